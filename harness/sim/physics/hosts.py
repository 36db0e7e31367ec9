"""Each tray's BMC and host state machines: BMC boot once the busbar is live, host power on/off and
Redfish resets, OS boot after power-on, a host that fails to boot, and the load a workload puts on it.

Transitions are scheduled on the twin's :class:`Scheduler`; every tray carries generation counters so
a transition scheduled by a command that was superseded (or by a boot cut short by a power loss) does
nothing when its time comes. Delays are seeded draws named by tray and count: reproducible.
"""

from __future__ import annotations

from harness.sim.faults.log import FaultLog
from harness.sim.physics.devices import Tray
from harness.sim.physics.noise import uniform
from harness.sim.physics.params import Physics
from harness.sim.physics.scheduler import Scheduler

RESET_TYPES = ("On", "ForceOn", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart",
               "PowerCycle", "Nmi")


class Hosts:
    """The trays' discrete state. Callers hold the scheduler's lock and have brought it up to now."""

    def __init__(self, sched: Scheduler, trays: dict[str, Tray], physics: Physics, seed: int,
                 faults: FaultLog) -> None:
        self.sched, self.trays, self.seed, self.faults = sched, trays, seed, faults
        self.timing = physics.timing
        self.restore_on = physics.power_restore_policy == "AlwaysOn"

    def _delay(self, what: str, rng: tuple[float, float], name: str, count: int) -> float:
        return uniform(self.seed, f"{what}|{name}|{count}", rng[0], rng[1])

    # ------------------------------------------------------------------ power from the busbar
    def boot_all(self) -> None:
        """The busbar came up: every BMC boots."""
        for tray in self.trays.values():
            self.bmc_boot(tray)

    def lose_power(self) -> None:
        """The busbar went down: every BMC and host loses power, pending transitions are void."""
        for tray in self.trays.values():
            tray.boot_gen += 1
            tray.host_gen += 1
            tray.bmc, tray.host, tray.os_running = "Down", "Off", False

    def bmc_boot(self, tray: Tray) -> None:
        tray.boot_gen += 1
        tray.boot_count += 1
        gen = tray.boot_gen
        tray.bmc = "Booting"
        delay = self._delay("bmc_boot", self.timing.bmc_boot_s, tray.name, tray.boot_count)

        def ready() -> None:
            if tray.boot_gen != gen:
                return
            tray.bmc = "Ready"
            self.sched.emit("bmc", tray=tray.name, state="Ready")
            if self.restore_on:
                self.power_on(tray)

        self.sched.schedule(delay, ready)

    # ------------------------------------------------------------------ host power
    def power_on(self, tray: Tray) -> None:
        if tray.host in ("On", "PoweringOn"):
            return
        tray.host_gen += 1
        gen = tray.host_gen
        tray.host = "PoweringOn"
        tray.last_reset_time = self.sched.t
        self.sched.emit("power", tray=tray.name, state="PoweringOn")
        delay = self._delay("host_on", self.timing.host_on_s, tray.name, tray.host_gen)
        if tray.fail_to_boot:  # stays PoweringOn: the tray never comes back
            self.faults.acted("twin.set_fail_to_boot", tray.name, "host power-on never completes", at_s=self.sched.t)
            return

        def on() -> None:
            if tray.host_gen != gen:
                return
            tray.host = "On"
            self.sched.emit("power", tray=tray.name, state="On")
            os_delay = self._delay("os_boot", self.timing.os_boot_s, tray.name, gen)

            def os_up() -> None:
                if tray.host_gen == gen:
                    tray.os_running = True

            self.sched.schedule(os_delay, os_up)

        self.sched.schedule(delay, on)

    def power_off(self, tray: Tray, graceful: bool, then_on: bool = False) -> None:
        tray.host_gen += 1
        gen = tray.host_gen
        tray.os_running = False
        if tray.host == "Off":
            if then_on:
                self.power_on(tray)
            return
        delay = self._delay("host_off", self.timing.host_off_s, tray.name, gen) if graceful else 0.0
        tray.host = "PoweringOff"
        self.sched.emit("power", tray=tray.name, state="PoweringOff")

        def off() -> None:
            if tray.host_gen != gen:
                return
            tray.host = "Off"
            self.sched.emit("power", tray=tray.name, state="Off")
            if then_on:
                self.power_on(tray)

        self.sched.schedule(max(delay, 1.0), off)

    def reset(self, tray: Tray, reset_type: str) -> None:
        """Apply a Redfish ResetType (one of :data:`RESET_TYPES`). Raises if the BMC cannot act now."""
        if tray.bmc != "Ready":
            raise RuntimeError(f"{tray.name}: BMC not ready")
        if reset_type in ("On", "ForceOn"):
            self.power_on(tray)
        elif reset_type == "ForceOff":
            tray.host_gen += 1
            if tray.host != "Off":
                tray.host, tray.os_running = "Off", False
                self.sched.emit("power", tray=tray.name, state="Off")
        elif reset_type == "GracefulShutdown":
            self.power_off(tray, graceful=True)
        elif reset_type in ("GracefulRestart", "ForceRestart", "PowerCycle"):
            if tray.host in ("On", "PoweringOn"):
                self.power_off(tray, graceful=reset_type == "GracefulRestart", then_on=True)
            elif reset_type == "PowerCycle":
                self.power_on(tray)

    # ------------------------------------------------------------------ load
    def set_utilization(self, tray: Tray, utilization: float) -> None:
        tray.utilization = min(1.0, max(0.0, utilization))

    def set_power_cap(self, tray: Tray, watts: float | None) -> None:
        tray.power_cap_w = watts

    def utilization_for(self, tray: Tray, watts: float) -> float:
        """The utilization at which the tray draws ``watts`` (a DCGM-style targeted-power workload)."""
        return (watts - tray.spec.idle_w) / (tray.spec.max_w - tray.spec.idle_w)

    def start_powered(self) -> None:
        """Every BMC Ready at t=0, hosts On if the restore policy says so."""
        for tray in self.trays.values():
            tray.bmc = "Ready"
            tray.boot_count = 1
            if self.restore_on:
                tray.host, tray.os_running = "On", True
