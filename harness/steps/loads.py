"""Load sources a step can drive: the electronic load on the busbar (VISA), or a GPU workload on every
compute tray (DCGM targeted power over SSH). Both take a fraction of their maximum."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

from harness.errors import Refused

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
        if rack.eload is None:
            raise Refused("this load needs an electronic load, and the station file declares none")
        self.rack, self.eload = rack, rack.eload
        self.max_a = rack.eload.max_current_a

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

    def __init__(self, rack: Rack) -> None:
        if not rack.workloads:
            raise Refused("a GPU workload needs SSH access to the tray hosts, and the station file declares none")
        self.rack = rack

    def apply(self, fraction: float, hold_s: float) -> None:
        # the workload runs on the host for hold_s; a margin keeps it running through the last sample
        self.rack.parallel(lambda t: self.rack.workloads[t].targeted_power(fraction, hold_s + 120.0),
                           list(self.rack.workloads))

    def off(self) -> None:
        self.rack.parallel(lambda t: self.rack.workloads[t].stop(), list(self.rack.workloads))

    def describe(self, fraction: float) -> dict[str, float]:
        return {"gpu_target_pct": 100.0 * fraction}


def load_source(rack: Rack, name: SourceName) -> EloadSource | WorkloadSource:
    return EloadSource(rack) if name == "eload" else WorkloadSource(rack)
