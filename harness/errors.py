"""Typed errors. Each carries what a technician needs to act: the file and line, or the device
and the request that failed."""

from __future__ import annotations


class RackvalError(Exception):
    """Base of every error rackval raises on purpose."""


class ConfigError(RackvalError):
    """A station, profile, plan or envelope file is wrong. ``str()`` is one line:
    ``file:line: field: what is wrong``."""

    def __init__(self, file: str, line: int | None, field: str, problem: str) -> None:
        field, problem = one_line(field), one_line(problem)
        self.file, self.line, self.field, self.problem = file, line, field, problem
        where = f"{one_line(file)}:{line}" if line is not None else one_line(file)
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


class ConfigErrors(ConfigError):
    """Every mistake found in one file (or a file and those it names), so the operator fixes them all
    in one go. ``str()`` is one ``file:line: field: what is wrong`` line per mistake; the attributes
    of the first are the object's own (so it still reads as one ConfigError where one is expected)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        if not errors:
            raise ValueError("ConfigErrors needs at least one error")
        first = errors[0]
        super().__init__(first.file, first.line, first.field, first.problem)
        self.errors = list(errors)
        self.args = ("\n".join(str(e) for e in self.errors),)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def short_list(items: list[str]) -> str:
    """Names for a one-line message: all of a few, the first and last of many."""
    if len(items) <= 8:
        return ", ".join(items)
    return f"{', '.join(items[:3])}, ... {items[-1]} ({len(items)} in all)"


def one_line(text: str) -> str:
    """Control characters (a newline in a quoted YAML key, say) escaped, so a message stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class DriverError(RackvalError):
    """A device did not do what was asked, or answered something unusable."""

    def __init__(self, device: str, request: str, problem: str) -> None:
        self.device, self.request, self.problem = device, request, problem
        super().__init__(f"{device}: {request}: {problem}")


class TransientDriverError(DriverError):
    """The device may answer if asked again later (timeout, refused, 503)."""


class RedfishError(DriverError):
    """A Redfish request failed; ``extended_info`` holds the service's @Message.ExtendedInfo text."""

    def __init__(self, device: str, request: str, problem: str, *, status: int | None = None,
                 extended_info: list[str] | None = None) -> None:
        self.status = status
        self.extended_info = extended_info or []
        detail = f" ({'; '.join(self.extended_info)})" if self.extended_info else ""
        super().__init__(device, request, f"{problem}{detail}")


class RedfishUnreachable(RedfishError, TransientDriverError):
    """No HTTP answer (refused, reset, timed out) or 503 while the BMC boots."""


class SnmpError(DriverError):
    """An SNMP request failed or returned an unusable value."""


class SnmpTimeout(SnmpError, TransientDriverError):
    """No SNMP answer within the timeout."""


class InstrumentError(DriverError):
    """A VISA/SCPI instrument failed: I/O error or an entry in its error queue."""


class HostError(DriverError):
    """A command on a tray's host OS (over SSH) failed."""


class HostUnreachable(HostError, TransientDriverError):
    """The host did not answer SSH (booting, down, network)."""


class PowerActionUncertain(DriverError):
    """A power action was sent but its outcome could not be confirmed by reading back."""


class SafetyError(RackvalError):
    """The safe state could not be reached or verified."""


class Refused(RackvalError):
    """rackval refuses to act: an undeclared endpoint, a serial mismatch, an expired calibration."""
