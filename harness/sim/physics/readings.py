"""What the simulators read from the twin, at the clock's now: noisy measurements and discrete states.

Every read first brings the twin up to now (processing due transitions), then adds noise that is a pure
function of (seed, source, time) to the noise-free value of :mod:`electrical` or :mod:`thermal`: the
same question at the same simulated time gets the same answer, whoever asks and in whatever order.
"""

from __future__ import annotations

import math

from harness.sim.faults.log import FaultLog
from harness.sim.physics.devices import BmcState, HostState
from harness.sim.physics.electrical import PDU_OVERHEAD_W, Electrical
from harness.sim.physics.noise import noise
from harness.sim.physics.scheduler import Scheduler
from harness.sim.physics.thermal import Thermal


class Readings:
    """Thread-safe reads: each one takes the scheduler's lock."""

    def __init__(self, sched: Scheduler, electrical: Electrical, thermal: Thermal, seed: int,
                 faults: FaultLog) -> None:
        self.faults = faults  # a stuck or NaN sensor is logged there when it is read
        self.sched, self.electrical, self.thermal, self.seed = sched, electrical, thermal, seed
        self.trays = electrical.trays
        self.sensor_faults: dict[str, float] = {}  # "tray/sensor" -> stuck value, or NaN for unavailable

    def _n(self, source: str, t: float, sigma: float) -> float:
        return sigma * noise(self.seed, source, t)

    # ------------------------------------------------------------------ discrete state
    def bmc_state(self, tray: str) -> BmcState:
        with self.sched.lock:
            self.sched.now()
            return self.trays[tray].bmc

    def host_state(self, tray: str) -> HostState:
        with self.sched.lock:
            self.sched.now()
            return self.trays[tray].host

    def tray_info(self, tray: str) -> dict[str, object]:
        with self.sched.lock:
            self.sched.now()
            tr = self.trays[tray]
            return {"bmc": tr.bmc, "host": tr.host, "os_running": tr.os_running,
                    "last_reset_time": tr.last_reset_time, "utilization": tr.utilization,
                    "power_cap_w": tr.power_cap_w}

    def host_os_running(self, tray: str) -> bool:
        """Whether the tray's host OS answers (SSH): host On and booted."""
        with self.sched.lock:
            self.sched.now()
            tr = self.trays[tray]
            return tr.host == "On" and tr.os_running

    def outlet_is_on(self, pdu: str, outlet: int) -> bool:
        with self.sched.lock:
            self.sched.now()
            return self.electrical.outlet_on[(pdu, outlet)]

    def outlet_command_pending(self, pdu: str, outlet: int) -> bool:
        """True while an 'on' command waits for its relay delay."""
        with self.sched.lock:
            self.sched.now()
            return (pdu, outlet) in self.electrical.outlet_pending

    def pump_states(self) -> dict[str, bool]:
        with self.sched.lock:
            self.sched.now()
            return dict(self.thermal.pumps)

    def leak_states(self) -> dict[str, str]:
        with self.sched.lock:
            self.sched.now()
            return dict(self.thermal.leak_detectors)

    def state_snapshot(self) -> dict[str, object]:
        """Discrete state, for tests and the safe-state readback of simulated runs."""
        with self.sched.lock:
            self.sched.now()
            el = self.electrical
            return {"busbar_live": el.busbar_live, "eload_on": el.eload_on,
                    "outlets": {f"{p}:{n}": on for (p, n), on in el.outlet_on.items()},
                    "hosts": {n: t.host for n, t in self.trays.items()},
                    "bmcs": {n: t.bmc for n, t in self.trays.items()}}

    # ------------------------------------------------------------------ trays
    def tray_power_w(self, tray: str) -> float:
        with self.sched.lock:
            t = self.sched.now()
            p = self.electrical.tray_power_w(self.trays[tray])
            return max(0.0, p + self._n(f"tray_power|{tray}", t, 0.004 * p)) if p else 0.0

    def tray_temperatures_c(self, tray: str) -> dict[str, float]:
        """Hottest-component, per-GPU and inlet temperatures of a tray."""
        with self.sched.lock:
            t = self.sched.now()
            tr = self.trays[tray]
            th = self.thermal.params
            hot = tr.temp.at(t)
            out = {"inlet": th.air_inlet_c + self._n(f"inlet|{tray}", t, 0.15)}
            if tr.spec.gpus:
                supply = (th.air_inlet_c if tr.spec.fans else th.coolant_supply_c)
                for g in range(tr.spec.gpus):
                    derate = 1.0 - 0.02 * g  # GPUs further down the cold plate loop run a little cooler
                    out[f"gpu{g}"] = supply + (hot - supply) * derate + self._n(f"gpu|{tray}|{g}", t, 0.2)
            else:
                out["asic"] = hot + self._n(f"asic|{tray}", t, 0.2)
            if tr.spec.fans:
                p = self.electrical.tray_power_w(tr)
                out["exhaust"] = (out["inlet"] + tr.spec.exhaust_c_per_kw * p / 1000.0 / self.thermal.airflow_frac(tr)
                                  if p else out["inlet"])
            for name in out:
                fault = self.sensor_faults.get(f"{tray}/{name}")
                if fault is not None:
                    out[name] = fault
                    self.faults.acted("twin.set_sensor_fault", f"{tray}/{name}",
                                      "unavailable (NaN) served" if math.isnan(fault) else "stuck value served", at_s=t)
            return out

    def fan_speeds_rpm(self, tray_name: str) -> dict[str, float]:
        with self.sched.lock:
            t = self.sched.now()
            tray = self.trays[tray_name]
            pct = self.thermal.fan_pct(tray)
            return {f"fan{i}": 0.0 if i in tray.failed_fans else
                    max(0.0, pct / 100.0 * tray.spec.fan_max_rpm + self._n(f"fan|{tray_name}|{i}", t, 40.0))
                    for i in range(1, tray.spec.fans + 1)}

    # ------------------------------------------------------------------ power path
    def busbar_v(self) -> float:
        with self.sched.lock:
            t = self.sched.now()
            el = self.electrical
            v = el.busbar_v(el.eload_current_a if el.eload_on else 0.0)
            return v + self._n("busbar_v", t, 0.02) if v else 0.0

    def eload_reading(self) -> tuple[float, float, float]:
        """(volts, amps, watts) at the electronic load's terminals."""
        with self.sched.lock:
            t = self.sched.now()
            el = self.electrical
            v = self.busbar_v()
            i = el.eload_current_a if (el.eload_on and el.busbar_live) else 0.0
            i = i + self._n("eload_i", t, 0.001 * i) if i else 0.0
            return v, i, v * i

    def psu_reading(self, psu: str) -> dict[str, float]:
        with self.sched.lock:
            t = self.sched.now()
            el = self.electrical
            out, inp = el.psu_output_w(psu), el.psu_input_w(psu)
            return {"output_w": out + self._n(f"psu_out|{psu}", t, 0.003 * out) if out else 0.0,
                    "input_w": inp + self._n(f"psu_in|{psu}", t, 0.003 * inp) if inp else 0.0,
                    "output_v": self.busbar_v() if out or el.busbar_live else 0.0,
                    "ac_ok": float(el.psu_has_ac(psu))}

    def shelf_output_w(self, shelf: str) -> float:
        with self.sched.lock:
            return sum(self.psu_reading(p)["output_w"] for p in self.electrical.psus if p.startswith(shelf + "."))

    def outlet_power_w(self, pdu: str, outlet: int) -> float:
        with self.sched.lock:
            t = self.sched.now()
            p = self.electrical.outlet_power_w(pdu, outlet)
            return max(0.0, p + self._n(f"outlet_w|{pdu}|{outlet}", t, 0.003 * p)) if p else 0.0

    def outlet_current_a(self, pdu: str, outlet: int) -> float:
        spec = self.electrical.pdu_specs[pdu]
        return self.outlet_power_w(pdu, outlet) / (spec.voltage_ln * spec.power_factor)

    def outlet_energy_kwh(self, pdu: str, outlet: int) -> float:
        with self.sched.lock:
            self.sched.now()
            return self.electrical.energy_j[(pdu, outlet)] / 3.6e6

    def outlet_phase(self, pdu: str, outlet: int) -> int:
        return (outlet - 1) % self.electrical.pdu_specs[pdu].phases + 1

    def phase_current_a(self, pdu: str, phase: int) -> float:
        spec = self.electrical.pdu_specs[pdu]
        return sum(self.outlet_current_a(pdu, n) for n in range(1, spec.outlets + 1)
                   if self.outlet_phase(pdu, n) == phase)

    def pdu_input_w(self, pdu: str) -> float:
        """What the PDU's inlet carries (the power analyzer's view)."""
        with self.sched.lock:
            spec = self.electrical.pdu_specs[pdu]
            outlets = sum(self.outlet_power_w(pdu, n) for n in range(1, spec.outlets + 1))
            return outlets + PDU_OVERHEAD_W

    def analyzer_reading(self, pdu: str) -> dict[str, float]:
        """Volts (line-neutral), amps, watts, power factor at a PDU inlet."""
        with self.sched.lock:
            t = self.sched.now()
            spec = self.electrical.pdu_specs[pdu]
            w = self.pdu_input_w(pdu)
            pf = spec.power_factor + self._n(f"pf|{pdu}", t, 0.001)
            v = spec.voltage_ln + self._n(f"v|{pdu}", t, 0.3)
            return {"V": v, "A": w / (v * pf * spec.phases), "W": w, "PF": min(1.0, pf)}

    def rack_dc_power_w(self) -> float:
        with self.sched.lock:
            self.sched.now()
            return self.electrical.bus_load_w()

    # ------------------------------------------------------------------ cooling
    def coolant(self) -> dict[str, float]:
        """CDU secondary loop: supply/return temperature, flow, pressures, pump and leak states."""
        with self.sched.lock:
            t = self.sched.now()
            th = self.thermal
            supply = th.supply_c(t)
            rise = th.coolant_return.at(t) - th.params.coolant_supply_c
            flow = th.flow_lpm()
            out: dict[str, float] = {
                "supply_c": supply + self._n("coolant_supply", t, 0.05),
                "return_c": supply + rise + self._n("coolant_return", t, 0.05),
                "flow_lpm": max(0.0, flow + self._n("coolant_flow", t, 0.2)) if flow else 0.0}
            if th.cdu is not None:
                cdu = th.cdu
                running = sum(th.pumps.values())
                out["supply_pressure_kpa"] = (cdu.supply_pressure_kpa if running else cdu.return_pressure_kpa) + \
                    self._n("p_supply", t, 0.5)
                out["return_pressure_kpa"] = cdu.return_pressure_kpa + self._n("p_return", t, 0.5)
                # 60 % each with every pump running; the survivors speed up to hold the flow
                out["pump_speed_pct"] = min(100.0, 60.0 * len(th.pumps) / running) if running else 0.0
            return out

    def thermocouple_points(self) -> dict[str, float]:
        """What a thermocouple DAQ on the rack reads: coolant supply/return, air inlet and exhaust."""
        with self.sched.lock:
            t = self.sched.now()
            c = self.coolant()
            heat_kw = self.electrical.bus_load_w() / 1000.0
            inlet = self.thermal.params.air_inlet_c
            return {"coolant_supply": c["supply_c"] + self._n("tc_supply", t, 0.1),
                    "coolant_return": c["return_c"] + self._n("tc_return", t, 0.1),
                    "air_inlet": inlet + self._n("tc_inlet", t, 0.1),
                    "air_exhaust": inlet + 0.15 * heat_kw + self._n("tc_exhaust", t, 0.1)}
