"""Instrument models as data: one YAML per model (``dialects/<model>.yaml``), validated once and read
by both the driver and the simulator, as the SNMP vendor maps are.

Why: a model used to be written three times by hand (driver dicts, simulator handlers, pyvisa-sim
file). Its dialect now says, per function, the exact string the driver sends (``send``), the headers
the simulator serves it under (``header``, SCPI manual notation) and the role operation (``op``) that
serves it, with what that operation needs: the words the model takes for a setting and what they mean
(``choices``), how it answers a boolean (``words``), the reply format of a number, a parameter range.
The driver's token tables are derived from the same ``choices``/``words``, so driver and simulator
cannot drift apart; ``fixtures/pyvisa_sim`` stays a separately written second witness.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from harness.errors import ConfigError, DriverError
from harness.yaml_loader import field_line, load_model

DIALECTS_DIR = Path(__file__).resolve().parent / "dialects"

Role = Literal["eload", "power_analyzer", "daq", "ac_source"]
ROLES: tuple[str, ...] = get_args(Role)

_HEADER = re.compile(r"^[\[\]:*A-Za-z0-9#]*[A-Za-z][\[\]:*A-Za-z0-9#]*\??$")
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_BOOLEAN_WORDS = {True: ("ON", "1"), False: ("OFF", "0")}


class UnsupportedCommand(DriverError):
    """The instrument model (dialect) has no command for this function."""


def short_form(word: str) -> str:
    """The short form of a word in manual notation (``CURRent`` -> ``CURR``; ``CCH`` -> ``CCH``)."""
    short = "".join(c for c in word if c.isupper() or c.isdigit() or c == "*")
    return short or word.upper()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Command(_Strict):
    """One function of a model: what the driver sends, and how the simulator serves it."""

    key: str = Field(default="", description="filled in from the command's key in ``commands``")
    send: str | None = Field(default=None, description="the exact string the driver sends; '{}' takes the value")
    header: tuple[str, ...] = Field(default=(), description="headers the simulator serves, in manual notation")
    op: str | None = Field(default=None, description="the role operation that serves the headers")
    args: int | tuple[int, int] | None = Field(default=None, description="parameter count (or range); "
                                                                         "default 0 for a query, 1 otherwise")
    measurement: bool = Field(default=False, description="a reading: injected stuck/overrange faults act on it")
    quantity: str | None = Field(default=None, description="which reading of the role it answers")
    format: str | None = Field(default=None, description="reply format of a number, e.g. '{:.4f}'")
    choices: dict[str, str | None] = Field(default_factory=dict,
                                           description="words taken (manual notation) -> meaning; null: not simulated")
    words: dict[bool, str] = Field(default_factory=dict, description="how a boolean is answered (and sent)")
    range: tuple[float, float] | None = Field(default=None, description="accepted numeric parameter")
    suffix: tuple[int, int] | None = Field(default=None, description="accepted numeric header suffix")
    default: float | bool | str | None = Field(default=None, description="a setting's value after *RST")
    reply: str | None = Field(default=None, description="a constant reply")

    @field_validator("header", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v

    @field_validator("header")
    @classmethod
    def _notation(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in v:
            if not _HEADER.match(pattern):
                raise ValueError(f"not a header in manual notation: {pattern!r}")
        return v

    @field_validator("send")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is not None:
            fields = [f for _, f, _, _ in string.Formatter().parse(v) if f is not None]
            if any(fields) or len(fields) > 1:
                raise ValueError(f"send takes at most one '{{}}' (the value): {v!r}")
        return v

    @field_validator("format")
    @classmethod
    def _number_format(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                v.format(1.5)
            except (ValueError, IndexError, KeyError) as exc:
                raise ValueError(f"format must format one number: {exc}") from None
        return v

    @field_validator("choices")
    @classmethod
    def _words(cls, v: dict[str, str | None]) -> dict[str, str | None]:
        for word in v:
            if not _WORD.match(word):
                raise ValueError(f"choice {word!r} is not a word in manual notation")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Command:
        if bool(self.header) != (self.op is not None):
            raise ValueError("header and op go together (served by the simulator) or not at all")
        if not self.header and self.send is None:
            raise ValueError("a command needs send, or header and op")
        if self.words and set(self.words) != {True, False}:
            raise ValueError("words must name both true and false")
        for pair, what in ((self.range, "range"), (self.suffix, "suffix"), (self.args, "args")):
            if isinstance(pair, tuple) and pair[0] > pair[1]:
                raise ValueError(f"{what}: low > high")
        return self

    @model_validator(mode="after")
    def _query_key(self) -> Command:
        if self.send is not None and self.key and self.key.endswith("?") != self.send.split(None, 1)[0].endswith("?"):
            raise ValueError("a key ending in '?' names a query (its send ends in '?'), and only a query")
        return self

    @property
    def name(self) -> str:
        """What the set and query forms share (e.g. a setting's name): the key without '?'."""
        return self.key.rstrip("?")


def _check_bits(names: dict[int, str]) -> dict[int, str]:
    if len(set(names.values())) != len(names) or any(not 0 <= b <= 31 for b in names):
        raise ValueError("bit numbers 0..31, each name once")
    return names


class Multiplexer(_Strict):
    """A scanning DAQ's channel layout: slot * 100 + channel."""

    slots: int = Field(ge=1, le=9)
    channels: int = Field(ge=1, le=99, description="channels per module")

    def valid(self, channel: int) -> bool:
        return 1 <= channel // 100 <= self.slots and 1 <= channel % 100 <= self.channels


class Dialect(_Strict):
    """One instrument model: see the module docstring and ``dialects/*.yaml``."""

    model: str = Field(pattern=r"^[a-z0-9_]+$")
    role: Role
    description: str = ""
    idn: str = Field(description="*IDN? of the simulated model; {serial} is the instrument's serial")
    commands: dict[str, Command]
    setup: tuple[str, ...] = Field(default=(), description="sent by the driver's configure(), in order")
    fields: tuple[str, ...] = Field(default=(), description="names of a multi-value reading, in reply order")
    actions: dict[str, tuple[str, ...]] = Field(default_factory=dict, description="operation -> commands, in order")
    bits: dict[str, Annotated[dict[int, str], AfterValidator(_check_bits)]] = Field(
        default_factory=dict, description="status register -> {bit: name}")
    multiplexer: Multiplexer | None = None
    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _key_commands(cls, data: Any) -> Any:
        """Each command learns its key (a key ending in '?' is the query form)."""
        if isinstance(data, dict) and isinstance(data.get("commands"), dict):
            data = {**data, "commands": {key: ({**cmd, "key": str(key)} if isinstance(cmd, dict) else cmd)
                                         for key, cmd in data["commands"].items()}}
        return data

    @field_validator("idn")
    @classmethod
    def _has_serial(cls, v: str) -> str:
        if "{serial}" not in v or v.count(",") != 3:
            raise ValueError("idn is 'maker,model,{serial},firmware'")
        return v


    # ------------------------------------------------------------------ the driver's view
    @property
    def name(self) -> str:
        return self.model

    @property
    def source(self) -> Path:
        """The file this dialect was loaded from (for errors found after loading)."""
        return self._source or DIALECTS_DIR / f"{self.model}.yaml"

    def command(self, key: str, value: str | None = None) -> str:
        """The exact string for ``key``, with ``value`` in its '{}'."""
        cmd = self.commands.get(key)
        if cmd is None or cmd.send is None:
            raise UnsupportedCommand(self.name, key, f"{self.name} has no command for {key!r}")
        return cmd.send.format(value) if value is not None else cmd.send

    def supports(self, key: str) -> bool:
        cmd = self.commands.get(key)
        return (cmd is not None and cmd.send is not None) or bool(self.actions.get(key))

    def action(self, key: str) -> tuple[str, ...]:
        commands = self.actions.get(key)
        if not commands:
            raise UnsupportedCommand(self.name, key, f"{self.name} has no commands for {key!r}")
        return commands

    def sent(self) -> dict[str, str]:
        """Function key -> the string the driver sends (with '{}' where the value goes)."""
        return {key: cmd.send for key, cmd in self.commands.items() if cmd.send is not None}

    def tokens(self, key: str) -> Mapping[Any, tuple[str, ...]] | None:
        """Value -> the words for it, the first one sent, any accepted on read-back; from the
        ``choices`` (short and long form of each word) or ``words`` of ``key`` or ``key?``."""
        for k in (key, key + "?"):
            cmd = self.commands.get(k)
            if cmd is None:
                continue
            if cmd.choices:
                table: dict[Any, list[str]] = {}
                for word, meaning in cmd.choices.items():
                    if meaning is not None:
                        forms = table.setdefault(meaning, [])
                        forms += [f for f in dict.fromkeys((short_form(word), word.upper())) if f not in forms]
                return {meaning: tuple(forms) for meaning, forms in table.items()}
            if cmd.words:
                return {value: (word, *(w for w in _BOOLEAN_WORDS[value] if w != word.upper()))
                        for value, word in cmd.words.items()}
        return None

    def decode_bits(self, register: str, value: int) -> frozenset[str]:
        """Names of the set bits of ``register`` (a bit the table does not name is ``bitN``)."""
        names = self.bits.get(register, {})
        return frozenset(names.get(bit, f"bit{bit}") for bit in range(value.bit_length()) if value >> bit & 1)

    def error(self, problem: str, *keys: Any) -> ConfigError:
        """A problem found after loading (e.g. by the simulator), pointing at its line in the file."""
        return ConfigError(str(self.source), field_line(self.source, *keys), ".".join(map(str, keys)), problem)


# ------------------------------------------------------------------------------ loading
def load_dialect_file(path: Path) -> Dialect:
    """Load and validate one dialect file; raises ConfigError (file:line: field: problem)."""
    dialect = load_model(Dialect, Path(path))
    dialect._source = Path(path)
    if dialect.model != Path(path).stem:
        raise dialect.error(f"model {dialect.model!r} must be the file's name ({Path(path).stem})", "model")
    return dialect


@cache
def dialects() -> dict[str, Dialect]:
    """Every shipped dialect by model name, loaded and validated once."""
    return {path.stem: load_dialect_file(path) for path in sorted(DIALECTS_DIR.glob("*.yaml"))}


def known_models() -> dict[str, list[str]]:
    """Role -> the models rackval can drive (and simulate)."""
    out: dict[str, list[str]] = {role: [] for role in ROLES}
    for model, dialect in dialects().items():
        out[dialect.role].append(model)
    return out


def dialect_for(role: str, model: str) -> Dialect:
    """The dialect of ``model``, which must be an instrument of ``role``; ValueError otherwise."""
    dialect = dialects().get(model)
    if dialect is None or dialect.role != role:
        known = ", ".join(known_models().get(role, [])) or "none"
        raise ValueError(f"no {role} dialect {model!r} (known: {known})")
    return dialect
