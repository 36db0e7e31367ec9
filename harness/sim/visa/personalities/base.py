"""A simulated instrument whose commands come from its model's dialect: code per role, data per model.

:class:`TablePersonality` reads the dialect (``harness/drivers/visa/dialects/<model>.yaml``, the file
the driver reads too) and declares every ``header`` of every command as the role's ``op_<op>``
method, given the command's data (reply format, words, choices, range). A role subclass holds what
the instrument does with the twin; nothing in it names a model's command spelling.

The build checks the dialect against the role: an op the role lacks, a quantity it does not
measure, a meaning it does not know or a field an op needs are :class:`~harness.errors.ConfigError`
pointing at the line of the dialect file.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

from harness.drivers.visa.dialect import Command, Dialect, short_form
from harness.sim.visa.device import NO_DATA, Call, Reply, ScpiDevice
from harness.sim.visa.parser import ScpiFault, boolean, choice, number

#: Device-specific error code a tripped protection queues (positive: SCPI leaves them to the maker).
PROTECTION_ERROR = 301

Op = Callable[[Call, Command], Reply]


class TablePersonality(ScpiDevice):
    """One role's behaviour, serving one model's commands as its dialect declares them."""

    ROLE: ClassVar[str] = ""
    #: readings the role's ``reading`` op can answer
    QUANTITIES: ClassVar[tuple[str, ...]] = ()
    #: op (``op?`` for its query form) -> the Command fields it cannot do without
    NEEDS: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: op -> the meanings its ``choices`` may map words to
    MEANINGS: ClassVar[dict[str, frozenset[str]]] = {}

    def __init__(self, dialect: Dialect, serial: str) -> None:
        if dialect.role != self.ROLE:
            raise ValueError(f"{type(self).__name__} simulates a {self.ROLE}, not a {dialect.role} ({dialect.model})")
        super().__init__(dialect.idn.format(serial=serial))
        self.dialect = dialect
        self.settings: dict[str, Any] = {}  # the generic ``setting`` op's values, by command name
        self._defaults = {cmd.name: cmd.default for cmd in dialect.commands.values() if cmd.default is not None}
        for key, cmd in dialect.commands.items():
            if cmd.op is not None:
                self._serve(key, cmd)

    def _serve(self, key: str, cmd: Command) -> None:
        assert cmd.op is not None
        op: Op | None = getattr(self, f"op_{cmd.op}", None)
        if op is None:
            known = sorted(n[3:] for n in dir(self) if n.startswith("op_"))
            raise self.dialect.error(f"the {self.ROLE} role has no op {cmd.op!r} (known: {', '.join(known)})",
                                     "commands", key, "op")
        if cmd.quantity is not None and cmd.quantity not in self.QUANTITIES:
            measured = ", ".join(self.QUANTITIES)
            raise self.dialect.error(f"the {self.ROLE} role measures {measured}, not {cmd.quantity!r}",
                                     "commands", key, "quantity")
        allowed = self.MEANINGS.get(cmd.op)
        if allowed is not None and not {m for m in cmd.choices.values() if m is not None} <= allowed:
            raise self.dialect.error(f"op {cmd.op} knows the meanings {', '.join(sorted(allowed))}",
                                     "commands", key, "choices")
        for pattern in cmd.header:
            needs = self.NEEDS.get(cmd.op + ("?" if pattern.endswith("?") else ""), ())
            missing = [f for f in needs if getattr(cmd, f) in (None, {}, ())]
            if missing:
                raise self.dialect.error(f"op {cmd.op} of {pattern!r} needs {', '.join(missing)}", "commands", key)
            try:
                self.declare(pattern, partial(self._dispatch, op, cmd), args=cmd.args, measurement=cmd.measurement)
            except ValueError as exc:
                raise self.dialect.error(str(exc), "commands", key, "header") from None

    @staticmethod
    def _dispatch(op: Op, cmd: Command, call: Call) -> Reply:
        if cmd.suffix is not None and not all(cmd.suffix[0] <= s <= cmd.suffix[1] for s in call.suffixes):
            raise ScpiFault(-114, call.header)
        return op(call, cmd)

    # ------------------------------------------------------------------ helpers for the roles
    def command_with(self, op: str, field: str) -> Command:
        """The first command served by ``op`` that carries ``field`` (e.g. the mode words)."""
        for cmd in self.dialect.commands.values():
            if cmd.op == op and getattr(cmd, field):
                return cmd
        raise self.dialect.error(f"the {self.ROLE} role needs a command with op {op} and {field}", "commands")

    @staticmethod
    def choose(text: str, cmd: Command) -> tuple[str, str]:
        """A parameter word -> (its word in manual notation, its meaning); -224 if the model does not
        take it or the simulator does not simulate what it means."""
        long = choice(text, list(cmd.choices))
        word = next(w for w in cmd.choices if w.upper() == long)
        meaning = cmd.choices[word]
        if meaning is None:
            raise ScpiFault(-224, f"{word} is not simulated")
        return word, meaning

    @staticmethod
    def number_reply(value: float | None, cmd: Command) -> str:
        """A number as the model answers it (the command's ``format``); None is the no-data value."""
        if value is None:
            return NO_DATA
        assert cmd.format is not None, "NEEDS lists format for this op"
        return cmd.format.format(value)

    @staticmethod
    def in_range(text: str, cmd: Command) -> float:
        """A numeric parameter within the command's ``range`` (-104 / -222 otherwise)."""
        assert cmd.range is not None, "NEEDS lists range for this op"
        return number(text, *cmd.range)

    @staticmethod
    def render(value: Any, cmd: Command) -> str:
        """A stored value as the model answers it: a boolean by its ``words`` (else 1/0), a number by
        its ``format``, a word in its short form (SCPI answers character data short)."""
        if isinstance(value, bool):
            return cmd.words.get(value, "1" if value else "0")
        if isinstance(value, str):
            return short_form(value)
        return cmd.format.format(value) if cmd.format else f"{value:g}"

    def value(self, name: str) -> Any:
        """A ``setting``'s present value (its default after *RST)."""
        if name not in self.settings and name not in self._defaults:
            raise self.dialect.error(f"the {self.ROLE} role needs a setting named {name!r}", "commands")
        return self.settings.get(name, self._defaults.get(name))

    def reset(self) -> None:
        """*RST: settings back to their defaults (a role extends this)."""
        self.settings.clear()

    # ------------------------------------------------------------------ ops every role has
    def op_setting(self, call: Call, cmd: Command) -> Reply:
        """A value the model keeps and answers, and the simulation does not act on."""
        if call.query:
            return self.render(self.value(cmd.name), cmd)
        if cmd.choices:
            self.settings[cmd.name] = self.choose(call.args[0], cmd)[0]
        elif cmd.range is not None:
            self.settings[cmd.name] = self.in_range(call.args[0], cmd)
        else:
            self.settings[cmd.name] = boolean(call.args[0])
        return None


class ProtectedPersonality(TablePersonality):
    """A role with latched protections (loads, sources). A trip (injected) switches the input or
    output off, sets its bit of the dialect's ``protection`` register and queues an error; switching
    on again is refused (-221) until the model's protection-clear command."""

    SWITCHED: ClassVar[str] = "output"  # what a trip switches off, for the messages

    def __init__(self, dialect: Dialect, serial: str) -> None:
        super().__init__(dialect, serial)
        self.protection = 0
        self.protection_bits = {name: 1 << bit for bit, name in dialect.bits.get("protection", {}).items()}

    def switch_off(self) -> None:
        """The role's response to a trip (a subclass switches its input or output off)."""
        raise NotImplementedError

    def refuse_if_tripped(self) -> None:
        if self.protection:
            raise ScpiFault(-221, f"protection tripped; clear it before switching the {self.SWITCHED} on")

    def trip(self, **params: Any) -> None:
        """Protection trip: ``kind`` (default OCP) must be one of the model's protections."""
        kind = str(params.pop("kind", "OCP")).upper()
        if params:
            raise ValueError(f"protection_trip takes only kind=, got {sorted(params)}")
        if kind not in self.protection_bits:
            raise ValueError(f"{self.dialect.model}: no {kind} protection (known: {', '.join(self.protection_bits)})")
        self.protection |= self.protection_bits[kind]
        self.switch_off()
        self.push_error(ScpiFault(PROTECTION_ERROR, f"{kind}, {self.SWITCHED} off"))

    def op_protection(self, call: Call, cmd: Command) -> Reply:
        return str(self.protection)

    def op_protection_clear(self, call: Call, cmd: Command) -> Reply:
        self.protection = 0
        return None
