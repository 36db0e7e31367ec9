"""Heat, noise-free: tray temperatures as first-order lags toward the steady state of their power, fans
under a speed control loop (air-cooled trays), the CDU's coolant loop, pumps and leak detectors.

Liquid-cooled: hottest component = coolant supply + R x power; the return runs above the supply by
heat / (flow x c_p). Air-cooled: the rise over inlet air scales with 1 / airflow, and failed fans make
the survivors speed up. With every pump stopped the supply climbs at a fixed rate.
"""

from __future__ import annotations

from typing import Literal

from harness.config.profile import Profile
from harness.sim.physics.curves import Lagged
from harness.sim.physics.devices import Tray
from harness.sim.physics.electrical import Electrical
from harness.sim.physics.params import Physics
from harness.sim.physics.scheduler import Scheduler

WATER_CP_KJ_PER_KG_K = 4.18
LeakState = Literal["OK", "Warning", "Critical"]


class Thermal:
    """Temperatures, fans, coolant. Callers hold the scheduler's lock, brought up to now."""

    def __init__(self, sched: Scheduler, electrical: Electrical, profile: Profile, physics: Physics) -> None:
        self.sched, self.electrical, self.trays = sched, electrical, electrical.trays
        self.params = physics.thermal
        self.cdu = physics.cdu_of(profile)
        design_kw = sum(physics.tray(g).max_w * g.count for g in profile.trays) / 1000.0
        self.coolant_flow_lpm = max(1.0, self.params.flow_lpm_per_kw * design_kw)
        self.coolant_return = Lagged(self.params.coolant_tau_s, self.params.coolant_supply_c)
        self.pumps: dict[str, bool] = {f"pump{i + 1}": True for i in range(self.cdu.pumps)} if self.cdu else {}
        self.no_flow_since: float | None = None
        self.leak_detectors: dict[str, str] = {}
        if profile.cdu is not None:
            self.leak_detectors[f"{profile.cdu.name}.reservoir"] = "OK"
            self.leak_detectors.update({f"{t}.coldplate": "OK" for t, tr in self.trays.items()
                                        if tr.spec.kind == "compute"})

    def retarget(self, t: float) -> None:
        """Every lag heads for the steady state of the power drawn from ``t`` on."""
        supply = self.params.coolant_supply_c
        for tray in self.trays.values():
            p = self.electrical.tray_power_w(tray)
            if tray.spec.fans:  # air-cooled: the rise over inlet air scales with 1 / airflow
                rise = tray.spec.r_c_per_kw * p / 1000.0 / self.airflow_frac(tray)
                tray.temp.retarget(t, self.params.air_inlet_c + rise)
            else:
                tray.temp.retarget(t, supply + tray.spec.r_c_per_kw * p / 1000.0)
        self.coolant_return.retarget(t, supply + self.coolant_dt(self.heat_kw()))

    def heat_kw(self) -> float:
        return sum(self.electrical.tray_power_w(tr) for tr in self.trays.values()) / 1000.0

    def coolant_dt(self, heat_kw: float) -> float:
        kg_per_s = self.coolant_flow_lpm / 60.0  # ~1 kg per litre
        return heat_kw / (kg_per_s * WATER_CP_KJ_PER_KG_K)

    def start_powered(self) -> None:
        """Lags settled at the steady state of the powered rack at t=0."""
        supply = self.params.coolant_supply_c
        for tray in self.trays.values():
            tray.temp = Lagged(tray.spec.tau_s, supply +
                               tray.spec.r_c_per_kw * self.electrical.tray_power_w(tray) / 1000.0)
        self.coolant_return = Lagged(self.params.coolant_tau_s, supply + self.coolant_dt(self.heat_kw()))

    # ------------------------------------------------------------------ fans
    def fan_pct(self, tray: Tray) -> float:
        """The fan controller in steady state: speed rises with load from its minimum; when fans fail the
        survivors speed up to keep the airflow, up to 100 %."""
        spec = tray.spec
        if not spec.fans or not self.electrical.busbar_live or tray.bmc == "Down":
            return 0.0
        frac = self.electrical.tray_power_w(tray) / spec.max_w
        base = spec.fan_min_pct + (100.0 - spec.fan_min_pct) * min(1.0, frac)
        running = spec.fans - len(tray.failed_fans)
        return min(100.0, base * spec.fans / running) if running > 0 else 0.0

    def airflow_frac(self, tray: Tray) -> float:
        running = tray.spec.fans - len(tray.failed_fans)
        return max(0.05, (running / tray.spec.fans) * self.fan_pct(tray) / 100.0)

    def fail_fan(self, tray: Tray, fan: int, failed: bool) -> None:
        if not 1 <= fan <= tray.spec.fans:
            raise KeyError(f"{tray.name} has no fan {fan}")
        (tray.failed_fans.add if failed else tray.failed_fans.discard)(fan)
        self.sched.emit("fan", tray=tray.name, fan=fan, failed=failed)

    # ------------------------------------------------------------------ coolant loop
    def supply_c(self, t: float) -> float:
        supply = self.params.coolant_supply_c
        if self.no_flow_since is not None and self.cdu is not None:
            supply += self.cdu.supply_rise_c_per_min_no_flow * (t - self.no_flow_since) / 60.0
        return supply

    def flow_lpm(self) -> float:
        if self.pumps and not any(self.pumps.values()):
            return 0.0
        return self.coolant_flow_lpm  # N+1: the remaining pumps speed up to hold the flow

    def fail_pump(self, pump: str, failed: bool) -> None:
        if pump not in self.pumps:
            raise KeyError(f"no pump {pump!r}")
        self.pumps[pump] = not failed
        flowing = any(self.pumps.values())
        if not flowing and self.no_flow_since is None:
            self.no_flow_since = self.sched.t
        elif flowing:
            self.no_flow_since = None
        self.sched.emit("pump", pump=pump, failed=failed)

    def set_leak(self, detector: str, state: LeakState) -> None:
        if detector not in self.leak_detectors:
            raise KeyError(f"no leak detector {detector!r}")
        self.leak_detectors[detector] = state
        self.sched.emit("leak", detector=detector, state=state)
