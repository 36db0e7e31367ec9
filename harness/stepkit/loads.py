"""Load sources a step can drive: the electronic load on the busbar (VISA), or a GPU workload on every
compute tray (DCGM targeted power over SSH). Both take a fraction of their maximum."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

from harness.clock import Deadline
from harness.errors import HostUnreachable, Refused

if TYPE_CHECKING:
    from harness.rack import Rack

SourceName = Literal["eload", "workload"]


class LoadSource(Protocol):
    name: str

    def apply(self, fraction: float, hold_s: float) -> None: ...
    def off(self) -> None: ...
    def describe(self, fraction: float) -> dict[str, float]: ...


class EloadSource:
    name = "eload"

    def __init__(self, rack: Rack) -> None:
        if rack.load is None:
            raise Refused("this load needs an electronic load, and the station file declares none")
        self.rack, self.eload = rack, rack.load
        self.max_a = rack.load.max_current_a

    def apply(self, fraction: float, hold_s: float) -> None:
        self.apply_current(fraction * self.max_a)

    def apply_current(self, amps: float) -> None:
        self.eload.set_current(amps)
        self.eload.input_on()

    def off(self) -> None:
        self.eload.input_off()

    def describe(self, fraction: float) -> dict[str, float]:
        return {"setpoint_a": fraction * self.max_a}


class WorkloadSource:
    name = "workload"

    def __init__(self, rack: Rack, *, os_timeout_s: float = 900.0, poll_s: float = 15.0) -> None:
        if not rack.workloads:
            raise Refused("a GPU workload needs SSH access to the tray hosts, and the station file declares none")
        self.rack, self.os_timeout_s, self.poll_s = rack, os_timeout_s, poll_s

    def apply(self, fraction: float, hold_s: float) -> None:
        """Start the load on every host; hosts still booting their OS (after a power cycle: minutes)
        are waited for, up to ``os_timeout_s``."""
        self.rack.workload_starting()
        pending = list(self.rack.workloads)
        deadline = Deadline.after(self.rack.clock, self.os_timeout_s)

        def start(tray: str) -> bool:
            try:  # the workload runs for hold_s; a margin keeps it running through the last sample
                self.rack.workloads[tray].targeted_power(fraction, hold_s + 120.0)
                return True
            except HostUnreachable:
                if deadline.expired():
                    raise
                return False

        while pending:
            started = self.rack.parallel(start, pending)
            pending = [t for t in pending if not started[t]]
            if pending:
                self.rack.clock.sleep(self.poll_s)

    def off(self) -> None:
        """Stop the load everywhere it may run. A host that does not answer is left to the safe state's
        readback (no OS, no workload); this runs in ``finally`` blocks and must not mask why a step ended."""
        def stop(tray: str) -> None:
            try:
                self.rack.workloads[tray].stop()
            except HostUnreachable:
                pass
        self.rack.parallel(stop, list(self.rack.workloads))

    def describe(self, fraction: float) -> dict[str, float]:
        return {"gpu_target_pct": 100.0 * fraction}


def load_source(rack: Rack, name: SourceName) -> EloadSource | WorkloadSource:
    return EloadSource(rack) if name == "eload" else WorkloadSource(rack)
