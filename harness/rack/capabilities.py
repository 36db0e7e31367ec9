"""What steps may do to a rack, as small interfaces (in the style of labgrid's protocols).

Steps program against these, not against concrete drivers: a PDU outlet switch, a tray's host power
through its BMC, a load on the busbar, a power meter. Any class with these methods fits (they are
structural ``Protocol``s), so a station with another PDU vendor, another electronic load or a
different analyzer needs a driver, not a new step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Outlet:
    """A declared PDU outlet and what it feeds (e.g. shelf1.psu3)."""

    pdu: str
    number: int
    feeds: str

    @property
    def label(self) -> str:
        return f"{self.pdu}/outlet{self.number}"


@runtime_checkable
class PowerSwitch(Protocol):
    """The rack's AC feeds: the station file's PDU outlets, each confirmed by reading it back."""

    outlets: list[Outlet]

    def set_outlet(self, pdu: str, number: int, on: bool) -> None: ...
    def states(self) -> dict[Outlet, bool]: ...
    def all_off(self) -> None: ...
    def all_on(self, stagger_s: float | None = None) -> None: ...
    def outlet_for(self, feeds: str) -> Outlet: ...
    def powers_w(self) -> dict[Outlet, float]: ...
    def phase_imbalance_pct(self) -> dict[str, float]: ...


@runtime_checkable
class HostPower(Protocol):
    """The trays' hosts, through their BMCs: resets sent once, states read back, waits on the run clock."""

    trays: list[str]

    def reset(self, tray: str, reset_type: str) -> bool: ...
    def power_states(self, names: list[str] | None = None) -> dict[str, str]: ...
    def bmcs_up(self, names: list[str] | None = None) -> dict[str, bool]: ...
    def wait_hosts(self, target: str, since: float, timeout_s: float, poll_s: float,
                   names: list[str] | None = None) -> dict[str, float | None]: ...
    def wait_boot(self, since: float, bmc_timeout_s: float, host_timeout_s: float,
                  poll_s: float) -> dict[str, tuple[float | None, float | None]]: ...
    def set_power_limit(self, tray: str, watts: float | None) -> None: ...


@runtime_checkable
class Load(Protocol):
    """Something that draws a set current from the busbar (an electronic load)."""

    name: str
    max_current_a: float

    @property
    def input_enabled(self) -> bool: ...
    def set_current(self, amps: float) -> None: ...
    def input_on(self) -> None: ...
    def input_off(self) -> None: ...
    def measure(self) -> tuple[float, float, float]:
        """(volts, amps, watts) at the load's input."""
        ...


@runtime_checkable
class PowerMeter(Protocol):
    """A power analyzer on an AC inlet: readings by name (W, PF, ...) and an inrush capture."""

    name: str

    def measure(self) -> dict[str, float]: ...
    def arm_inrush(self) -> None: ...
    def inrush_peak_a(self) -> float: ...
