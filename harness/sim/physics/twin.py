"""RackTwin: the one physical model every simulator reads, so every view of a quantity agrees.

A discrete-event model. Commands (outlet switched, host reset, load set) and the transitions they
schedule (BMC ready, host On) change the discrete state at known simulated times, processed in time
order. Continuous quantities (power, voltage, lagged temperatures) are closed-form functions of the
last state change and the time asked, and noise is a pure function of (seed, source, time). A
reading therefore never depends on who asked first or how often: same seed, same readings.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import struct
import threading
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from harness.clock import Clock
from harness.config.profile import Profile, TrayGroup

HostState = Literal["Off", "PoweringOn", "On", "PoweringOff"]
BmcState = Literal["Down", "Booting", "Ready"]

WATER_CP_KJ_PER_KG_K = 4.18
RESET_TYPES = ("On", "ForceOn", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart",
               "PowerCycle", "Nmi")


def noise(seed: int, source: str, t: float) -> float:
    """Standard normal deviate as a pure function of (seed, source, simulated time)."""
    digest = hashlib.blake2b(f"{seed}|{source}|{t:.3f}".encode(), digest_size=16).digest()
    a, b = struct.unpack("<QQ", digest)
    u1 = (a + 1) / (2**64 + 1)
    u2 = b / 2**64
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)


def uniform(seed: int, source: str, lo: float, hi: float) -> float:
    """A seeded draw in [lo, hi] named by ``source`` (delays, serial numbers)."""
    digest = hashlib.blake2b(f"{seed}|{source}".encode(), digest_size=8).digest()
    return lo + (hi - lo) * (struct.unpack("<Q", digest)[0] / 2**64)


class Lagged:
    """A first-order lag toward a piecewise-constant target, snapshotted at each state change."""

    __slots__ = ("tau", "t0", "v0", "target")

    def __init__(self, tau: float, value: float) -> None:
        self.tau, self.t0, self.v0, self.target = tau, 0.0, value, value

    def at(self, t: float) -> float:
        return self.target + (self.v0 - self.target) * math.exp(-max(0.0, t - self.t0) / self.tau)

    def retarget(self, t: float, target: float) -> None:
        self.v0, self.t0, self.target = self.at(t), t, target


@dataclass
class Tray:
    name: str
    spec: TrayGroup
    bmc: BmcState = "Down"
    host: HostState = "Off"
    utilization: float = 0.0
    power_cap_w: float | None = None
    boot_gen: int = 0  # bumps on every busbar loss: cancels scheduled transitions of an old boot
    host_gen: int = 0  # bumps on every host command: cancels a pending transition it supersedes
    boot_count: int = 0
    last_reset_time: float | None = None
    os_running: bool = False
    fail_to_boot: bool = False
    failed_fans: set[int] = field(default_factory=set)
    temp: Lagged = field(default_factory=lambda: Lagged(6.0, 30.0))


@dataclass(frozen=True)
class Psu:
    shelf: str
    index: int
    rated_w: float

    @property
    def name(self) -> str:
        return f"{self.shelf}.psu{self.index}"


class RackTwin:
    """The simulated rack. Thread-safe: simulators on several threads read it at ``clock.now()``."""

    SOFT_START_S = 1.5
    PDU_OVERHEAD_W = 12.0

    def __init__(self, profile: Profile, clock: Clock, *, seed: int = 0, serial: str = "SIM-0001") -> None:
        self.profile, self.clock, self.seed, self.serial = profile, clock, seed, serial
        self._lock = threading.RLock()
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._t = 0.0  # simulated time up to which the discrete state is processed
        self.trays: dict[str, Tray] = {}
        for group in profile.trays:
            for name in group.names():
                self.trays[name] = Tray(name, group, temp=Lagged(group.tau_s, profile.thermal.coolant_supply_c))
        self.psus: dict[str, Psu] = {}
        for sg in profile.shelves:
            for shelf in sg.names():
                for i in range(sg.psus):
                    psu = Psu(shelf, i + 1, sg.psu_rated_w)
                    self.psus[psu.name] = psu
        self.feeds: dict[str, tuple[str, int]] = {}  # psu name -> (pdu, outlet)
        self.outlet_on: dict[tuple[str, int], bool] = {}
        self.outlet_gen: dict[tuple[str, int], int] = {}
        self.outlet_pending: set[tuple[str, int]] = set()
        for pdu in profile.pdus:
            for n in range(1, pdu.outlets + 1):
                self.outlet_on[(pdu.name, n)] = False
                self.outlet_gen[(pdu.name, n)] = 0
            for n, psu_name in pdu.feeds.items():
                self.feeds[psu_name] = (pdu.name, n)
        self.pdu_specs = {p.name: p for p in profile.pdus}
        self.psu_failed: set[str] = set()
        self.breaker_tripped: dict[tuple[str, str], bool] = {
            (pdu.name, b.name): False for pdu in profile.pdus for b in pdu.branches}
        self.busbar_live = False
        self._busbar_gen = 0
        self._busbar_pending = False
        self.eload_on = False
        self.eload_current_a = 0.0
        self.energy_j: dict[tuple[str, int], float] = {k: 0.0 for k in self.outlet_on}
        self._energy_t = 0.0
        design_kw = sum(g.max_w * g.count for g in profile.trays) / 1000.0
        self.coolant_flow_lpm = max(1.0, profile.thermal.flow_lpm_per_kw * design_kw)
        self.coolant_return = Lagged(profile.thermal.coolant_tau_s, profile.thermal.coolant_supply_c)
        self.listeners: list[Callable[[str, dict[str, object]], None]] = []
        # called (under the lock) with the time of every state change, after the lagged signals were
        # retargeted: a threshold watch re-reads exact_sources() there (see redfish_thresholds.py)
        self.watchers: list[Callable[[float], None]] = []
        cdu = profile.cdu
        self.pumps: dict[str, bool] = {f"pump{i + 1}": True for i in range(cdu.pumps)} if cdu else {}
        self._no_flow_since: float | None = None
        self.leak_detectors: dict[str, str] = {}
        if cdu:
            self.leak_detectors[f"{cdu.name}.reservoir"] = "OK"
            self.leak_detectors.update({f"{t}.coldplate": "OK" for t, tr in self.trays.items() if tr.spec.kind == "compute"})
        self.sensor_faults: dict[str, float] = {}  # "tray/sensor" -> stuck value, or NaN for unavailable

    # ------------------------------------------------------------------ event machinery
    def _now(self) -> float:
        """Process every scheduled transition up to the clock's now; caller holds the lock."""
        now = self.clock.now()
        while self._events and self._events[0][0] <= now:
            t, _, action = heapq.heappop(self._events)
            self._accumulate_energy(t)
            self._t = max(self._t, t)
            action()
            self._retarget(self._t)
        self._accumulate_energy(now)
        self._t = max(self._t, now)
        return now

    def _schedule(self, delay: float, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._events, (self._t + max(0.0, delay), self._seq, action))

    def _emit(self, kind: str, **data: object) -> None:
        for listener in list(self.listeners):
            listener(kind, {"t": self._t, **data})

    def _changed(self) -> None:
        """After a command: breakers judge the new currents, lagged signals head for the new steady state."""
        self._check_breakers()
        self._retarget(self._t)

    def _check_breakers(self) -> None:
        """Protection, judged at every state change (currents only change then, so it is deterministic).

        PSUs first: a bus load above what the PSUs with AC can deliver collapses the bus (the PSUs
        current-limit and shut down; once the load is gone they restart after soft start, as real
        shelves hiccup). Then branch breakers: a branch whose current exceeds its rating trips and its
        outlets go dark.
        """
        if self.busbar_live and self._bus_load_w() > self._bus_capacity_w():
            self._bus_down("PSU overload")
            self._update_busbar()  # AC is still there: the bus comes back after soft start
        for pdu in self.profile.pdus:
            for b in pdu.branches:
                if self.breaker_tripped[(pdu.name, b.name)]:
                    continue
                amps = sum(self._outlet_power_exact(pdu.name, n) for n in b.outlets) / (
                    pdu.voltage_ln * pdu.power_factor)
                if amps > b.rating_a:
                    self.breaker_tripped[(pdu.name, b.name)] = True
                    self._emit("breaker", pdu=pdu.name, branch=b.name, amps=amps, tripped=True)
                    for n in b.outlets:
                        self.outlet_gen[(pdu.name, n)] += 1
                        self.outlet_pending.discard((pdu.name, n))
                        self._set_relay((pdu.name, n), False)

    def force_trip(self, pdu: str, branch: str) -> None:
        """Fault: a breaker trips (a short, or a worn breaker) whatever the current."""
        with self._lock:
            self._now()
            if (pdu, branch) not in self.breaker_tripped:
                raise KeyError(f"{pdu} has no branch {branch!r}")
            self.breaker_tripped[(pdu, branch)] = True
            spec = next(b for b in self.pdu_specs[pdu].branches if b.name == branch)
            self._emit("breaker", pdu=pdu, branch=branch, amps=0.0, tripped=True)
            for n in spec.outlets:
                self.outlet_gen[(pdu, n)] += 1
                self.outlet_pending.discard((pdu, n))
                self._set_relay((pdu, n), False)
            self._changed()

    def reset_breaker(self, pdu: str, branch: str) -> None:
        """Close a tripped breaker; its outlets stay off until switched on."""
        with self._lock:
            self._now()
            self.breaker_tripped[(pdu, branch)] = False
            self._emit("breaker", pdu=pdu, branch=branch, tripped=False)

    def breaker_of(self, pdu: str, outlet: int) -> str | None:
        return next((b.name for b in self.pdu_specs[pdu].branches if outlet in b.outlets), None)

    def _retarget(self, t: float) -> None:
        supply = self.profile.thermal.coolant_supply_c
        for tray in self.trays.values():
            p = self._tray_power_exact(tray)
            if tray.spec.fans:  # air-cooled: the rise over inlet air scales with 1 / airflow
                rise = tray.spec.r_c_per_kw * p / 1000.0 / self._airflow_frac(tray)
                tray.temp.retarget(t, self.profile.thermal.air_inlet_c + rise)
            else:
                tray.temp.retarget(t, supply + tray.spec.r_c_per_kw * p / 1000.0)
        heat_kw = sum(self._tray_power_exact(tr) for tr in self.trays.values()) / 1000.0
        self.coolant_return.retarget(t, supply + self._coolant_dt(heat_kw))
        for watcher in self.watchers:
            watcher(t)

    def _fan_pct(self, tray: Tray) -> float:
        """The fan controller in steady state: speed rises with load from its minimum; when fans fail the
        survivors speed up to keep the airflow, up to 100 %."""
        spec = tray.spec
        if not spec.fans or not self.busbar_live or tray.bmc == "Down":
            return 0.0
        frac = self._tray_power_exact(tray) / spec.max_w
        base = spec.fan_min_pct + (100.0 - spec.fan_min_pct) * min(1.0, frac)
        running = spec.fans - len(tray.failed_fans)
        return min(100.0, base * spec.fans / running) if running > 0 else 0.0

    def _airflow_frac(self, tray: Tray) -> float:
        running = tray.spec.fans - len(tray.failed_fans)
        return max(0.05, (running / tray.spec.fans) * self._fan_pct(tray) / 100.0)

    def _coolant_dt(self, heat_kw: float) -> float:
        kg_per_s = self.coolant_flow_lpm / 60.0  # ~1 kg per litre
        return heat_kw / (kg_per_s * WATER_CP_KJ_PER_KG_K)

    def _delay(self, what: str, rng: tuple[float, float], name: str, count: int) -> float:
        return uniform(self.seed, f"{what}|{name}|{count}", rng[0], rng[1])

    # ------------------------------------------------------------------ commands
    def set_outlet(self, pdu: str, outlet: int, on: bool) -> None:
        """Switch a PDU outlet relay; off acts at once, on after the relay delay."""
        with self._lock:
            self._now()
            key = (pdu, outlet)
            if key not in self.outlet_on:
                raise KeyError(f"{pdu} has no outlet {outlet}")
            self.outlet_gen[key] += 1
            gen = self.outlet_gen[key]
            if not on:
                self.outlet_pending.discard(key)
                self._set_relay(key, False)
            else:
                self.outlet_pending.add(key)

                def close() -> None:
                    if self.outlet_gen[key] == gen:
                        self.outlet_pending.discard(key)
                        branch = self.breaker_of(*key)
                        if branch is None or not self.breaker_tripped[(key[0], branch)]:
                            self._set_relay(key, True)
                            self._check_breakers()

                self._schedule(self.profile.timing.outlet_on_delay_s, close)
            self._changed()

    def reboot_outlet(self, pdu: str, outlet: int, off_s: float) -> None:
        """Outlet off now and back on ``off_s`` simulated seconds later (a PDU's reboot command),
        unless another command to the outlet supersedes it."""
        with self._lock:
            self._now()
            key = (pdu, outlet)
            if key not in self.outlet_on:
                raise KeyError(f"{pdu} has no outlet {outlet}")
            self.outlet_gen[key] += 1
            gen = self.outlet_gen[key]
            self._set_relay(key, False)
            self.outlet_pending.add(key)

            def close() -> None:
                if self.outlet_gen[key] == gen:
                    self.outlet_pending.discard(key)
                    self._set_relay(key, True)

            self._schedule(off_s, close)
            self._changed()

    def outlet_command_pending(self, pdu: str, outlet: int) -> bool:
        """True while an 'on' command waits for its relay delay."""
        with self._lock:
            self._now()
            return (pdu, outlet) in self.outlet_pending

    def _set_relay(self, key: tuple[str, int], on: bool) -> None:
        if self.outlet_on[key] == on:
            return
        self.outlet_on[key] = on
        self._emit("outlet", pdu=key[0], outlet=key[1], on=on)
        self._update_busbar()

    def _psu_has_ac(self, psu: str) -> bool:
        feed = self.feeds.get(psu)
        return feed is not None and self.outlet_on[feed] and psu not in self.psu_failed

    def _active_psus(self) -> list[Psu]:
        return [p for name, p in self.psus.items() if self._psu_has_ac(name)]

    def _update_busbar(self) -> None:
        any_ac = bool(self._active_psus())
        if any_ac and not self.busbar_live and not self._busbar_pending:
            self._busbar_gen += 1
            self._busbar_pending = True
            gen = self._busbar_gen

            def live() -> None:
                if self._busbar_gen != gen:
                    return
                self._busbar_pending = False
                if self._active_psus():
                    self.busbar_live = True
                    self._emit("busbar", live=True)
                    for tray in self.trays.values():
                        self._bmc_boot(tray)

            self._schedule(self.SOFT_START_S, live)
        elif not any_ac:
            self._busbar_gen += 1
            self._busbar_pending = False
            self._bus_down("no AC on any PSU")

    def _bus_down(self, reason: str) -> None:
        """The busbar loses its voltage: every tray loses power (BMC and host)."""
        if not self.busbar_live:
            return
        self.busbar_live = False
        self._emit("busbar", live=False, reason=reason)
        for tray in self.trays.values():
            tray.boot_gen += 1
            tray.host_gen += 1
            tray.bmc, tray.host, tray.os_running = "Down", "Off", False

    def _bmc_boot(self, tray: Tray) -> None:
        tray.boot_gen += 1
        tray.boot_count += 1
        gen = tray.boot_gen
        tray.bmc = "Booting"
        delay = self._delay("bmc_boot", self.profile.timing.bmc_boot_s, tray.name, tray.boot_count)

        def ready() -> None:
            if tray.boot_gen != gen:
                return
            tray.bmc = "Ready"
            self._emit("bmc", tray=tray.name, state="Ready")
            if self.profile.power_restore_policy == "AlwaysOn":
                self._host_power_on(tray)

        self._schedule(delay, ready)

    def _host_power_on(self, tray: Tray) -> None:
        if tray.host in ("On", "PoweringOn"):
            return
        tray.host_gen += 1
        gen = tray.host_gen
        tray.host = "PoweringOn"
        tray.last_reset_time = self._t
        self._emit("power", tray=tray.name, state="PoweringOn")
        delay = self._delay("host_on", self.profile.timing.host_on_s, tray.name, tray.host_gen)
        if tray.fail_to_boot:
            return  # stays PoweringOn: the tray never comes back

        def on() -> None:
            if tray.host_gen != gen:
                return
            tray.host = "On"
            self._emit("power", tray=tray.name, state="On")
            os_delay = self._delay("os_boot", self.profile.timing.os_boot_s, tray.name, gen)

            def os_up() -> None:
                if tray.host_gen == gen:
                    tray.os_running = True

            self._schedule(os_delay, os_up)

        self._schedule(delay, on)

    def _host_power_off(self, tray: Tray, graceful: bool, then_on: bool = False) -> None:
        tray.host_gen += 1
        gen = tray.host_gen
        tray.os_running = False
        if tray.host == "Off":
            if then_on:
                self._host_power_on(tray)
            return
        delay = self._delay("host_off", self.profile.timing.host_off_s, tray.name, gen) if graceful else 0.0
        tray.host = "PoweringOff"
        self._emit("power", tray=tray.name, state="PoweringOff")

        def off() -> None:
            if tray.host_gen != gen:
                return
            tray.host = "Off"
            self._emit("power", tray=tray.name, state="Off")
            if then_on:
                self._host_power_on(tray)

        self._schedule(max(delay, 1.0), off)

    def host_reset(self, tray_name: str, reset_type: str) -> None:
        """Apply a Redfish ResetType to a tray's host. Raises if the BMC cannot act now."""
        if reset_type not in RESET_TYPES:
            raise ValueError(f"unsupported ResetType {reset_type!r}")
        with self._lock:
            self._now()
            tray = self.trays[tray_name]
            if tray.bmc != "Ready":
                raise RuntimeError(f"{tray_name}: BMC not ready")
            if reset_type in ("On", "ForceOn"):
                self._host_power_on(tray)
            elif reset_type == "ForceOff":
                tray.host_gen += 1
                if tray.host != "Off":
                    tray.host, tray.os_running = "Off", False
                    self._emit("power", tray=tray.name, state="Off")
            elif reset_type == "GracefulShutdown":
                self._host_power_off(tray, graceful=True)
            elif reset_type in ("GracefulRestart", "ForceRestart", "PowerCycle"):
                if tray.host in ("On", "PoweringOn"):
                    self._host_power_off(tray, graceful=reset_type == "GracefulRestart", then_on=True)
                elif reset_type == "PowerCycle":
                    self._host_power_on(tray)
            self._changed()

    def set_utilization(self, tray_name: str, utilization: float) -> None:
        with self._lock:
            self._now()
            self.trays[tray_name].utilization = min(1.0, max(0.0, utilization))
            self._changed()

    def set_power_cap(self, tray_name: str, watts: float | None) -> None:
        with self._lock:
            self._now()
            self.trays[tray_name].power_cap_w = watts
            self._changed()

    def set_eload(self, *, current_a: float | None = None, input_on: bool | None = None) -> None:
        with self._lock:
            self._now()
            if current_a is not None:
                self.eload_current_a = max(0.0, current_a)
            if input_on is not None:
                self.eload_on = input_on
            self._changed()

    def after(self, delay_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` (under the twin's lock) ``delay_s`` simulated seconds from now: for simulators
        whose devices do things later (a workload that ends, a relay that closes)."""
        with self._lock:
            self._now()

            def run() -> None:
                action()
                self._changed()

            self._schedule(delay_s, run)

    def host_os_running(self, tray_name: str) -> bool:
        """Whether the tray's host OS answers (SSH): host On and booted."""
        with self._lock:
            self._now()
            tr = self.trays[tray_name]
            return tr.host == "On" and tr.os_running

    def set_target_power(self, tray_name: str, watts: float) -> None:
        """A DCGM-style targeted-power workload: utilization that draws ``watts`` (clamped to the tray's range)."""
        spec = self.trays[tray_name].spec
        self.set_utilization(tray_name, (watts - spec.idle_w) / (spec.max_w - spec.idle_w))

    def set_fail_to_boot(self, tray_name: str, failed: bool = True) -> None:
        """Fault: the tray's host never reaches On after its next power-on."""
        with self._lock:
            self._now()
            self.trays[tray_name].fail_to_boot = failed

    def fail_fan(self, tray_name: str, fan: int, failed: bool = True) -> None:
        """Fault: fan ``fan`` (1-based) of a tray stops."""
        with self._lock:
            self._now()
            tray = self.trays[tray_name]
            if not 1 <= fan <= tray.spec.fans:
                raise KeyError(f"{tray_name} has no fan {fan}")
            (tray.failed_fans.add if failed else tray.failed_fans.discard)(fan)
            self._emit("fan", tray=tray_name, fan=fan, failed=failed)
            self._changed()

    def fan_speeds_rpm(self, tray_name: str) -> dict[str, float]:
        with self._lock:
            t = self._now()
            tray = self.trays[tray_name]
            pct = self._fan_pct(tray)
            return {f"fan{i}": 0.0 if i in tray.failed_fans else
                    max(0.0, pct / 100.0 * tray.spec.fan_max_rpm + self._n(f"fan|{tray_name}|{i}", t, 40.0))
                    for i in range(1, tray.spec.fans + 1)}

    def set_leak(self, detector: str, state: Literal["OK", "Warning", "Critical"]) -> None:
        with self._lock:
            self._now()
            if detector not in self.leak_detectors:
                raise KeyError(f"no leak detector {detector!r}")
            self.leak_detectors[detector] = state
            self._emit("leak", detector=detector, state=state)

    def fail_pump(self, pump: str, failed: bool = True) -> None:
        with self._lock:
            self._now()
            if pump not in self.pumps:
                raise KeyError(f"no pump {pump!r}")
            self.pumps[pump] = not failed
            flowing = any(self.pumps.values())
            if not flowing and self._no_flow_since is None:
                self._no_flow_since = self._t
            elif flowing:
                self._no_flow_since = None
            self._emit("pump", pump=pump, failed=failed)
            self._changed()

    def set_sensor_fault(self, key: str, value: float | None) -> None:
        """Fault: sensor ``tray/name`` stuck at ``value`` (NaN = unavailable); None clears it."""
        with self._lock:
            if value is None:
                self.sensor_faults.pop(key, None)
            else:
                self.sensor_faults[key] = value

    def fail_psu(self, psu: str, failed: bool = True) -> None:
        with self._lock:
            self._now()
            (self.psu_failed.add if failed else self.psu_failed.discard)(psu)
            self._emit("psu", psu=psu, failed=failed)
            self._update_busbar()
            self._changed()

    # ------------------------------------------------------------------ exact (noise-free) model
    def _tray_power_exact(self, tray: Tray) -> float:
        if not self.busbar_live or tray.bmc == "Down":
            return 0.0
        if tray.host != "On":
            return tray.spec.standby_w
        p = tray.spec.idle_w + tray.utilization * (tray.spec.max_w - tray.spec.idle_w)
        if tray.power_cap_w is not None:
            p = min(p, max(tray.spec.idle_w * 0.6, tray.power_cap_w))
        return p

    def _bus_capacity_w(self) -> float:
        return sum(p.rated_w for p in self._active_psus())

    def _busbar_v_exact(self, eload_a: float) -> float:
        if not self.busbar_live:
            return 0.0
        cap = self._bus_capacity_w() or 1.0
        trays = sum(self._tray_power_exact(t) for t in self.trays.values())
        nominal = self.profile.busbar.nominal_v
        droop = self.profile.busbar.droop_v_at_full
        # V = Vn - droop * (trays + V*I)/cap  ->  solve for V
        return (nominal - droop * trays / cap) / (1.0 + droop * eload_a / cap)

    def _eload_power_exact(self) -> float:
        if not (self.eload_on and self.busbar_live):
            return 0.0
        return self._busbar_v_exact(self.eload_current_a) * self.eload_current_a

    def _bus_load_w(self) -> float:
        return sum(self._tray_power_exact(t) for t in self.trays.values()) + self._eload_power_exact()

    def efficiency(self, load_fraction: float) -> float:
        pts = self.profile.psu_efficiency
        xs = [p[0] for p in pts]
        if load_fraction <= xs[0]:
            return pts[0][1]
        if load_fraction >= xs[-1]:
            return pts[-1][1]
        i = bisect_right(xs, load_fraction)
        (x0, y0), (x1, y1) = pts[i - 1], pts[i]
        return y0 + (y1 - y0) * (load_fraction - x0) / (x1 - x0)

    def _psu_output_exact(self, psu: str) -> float:
        if not self.busbar_live or not self._psu_has_ac(psu):
            return 0.0
        active = self._active_psus()
        return self._bus_load_w() / len(active) if active else 0.0

    def _psu_input_exact(self, psu: str) -> float:
        if not self._psu_has_ac(psu):
            return 0.0
        out = self._psu_output_exact(psu)
        rated = self.psus[psu].rated_w
        return out / self.efficiency(out / rated) + self.profile.psu_noload_w

    def _outlet_power_exact(self, pdu: str, outlet: int) -> float:
        if not self.outlet_on[(pdu, outlet)]:
            return 0.0
        psu = self.pdu_specs[pdu].feeds.get(outlet)
        return self._psu_input_exact(psu) if psu else 0.0

    def _accumulate_energy(self, t: float) -> None:
        dt = t - self._energy_t
        if dt <= 0:
            return
        for key in self.energy_j:
            if self.outlet_on[key]:
                self.energy_j[key] += self._outlet_power_exact(*key) * dt
        self._energy_t = t

    # ------------------------------------------------------------------ readings (at clock.now())
    def _n(self, source: str, t: float, sigma: float) -> float:
        return sigma * noise(self.seed, source, t)

    def bmc_state(self, tray: str) -> BmcState:
        with self._lock:
            self._now()
            return self.trays[tray].bmc

    def bmc_ready(self, tray: str) -> bool:
        return self.bmc_state(tray) == "Ready"

    def host_state(self, tray: str) -> HostState:
        with self._lock:
            self._now()
            return self.trays[tray].host

    def tray_info(self, tray: str) -> dict[str, object]:
        with self._lock:
            self._now()
            tr = self.trays[tray]
            return {"bmc": tr.bmc, "host": tr.host, "os_running": tr.os_running,
                    "last_reset_time": tr.last_reset_time, "utilization": tr.utilization,
                    "power_cap_w": tr.power_cap_w}

    def tray_power_w(self, tray: str) -> float:
        with self._lock:
            t = self._now()
            p = self._tray_power_exact(self.trays[tray])
            return max(0.0, p + self._n(f"tray_power|{tray}", t, 0.004 * p)) if p else 0.0

    def tray_temperatures_c(self, tray: str) -> dict[str, float]:
        """Hottest-component, per-GPU and inlet temperatures of a tray."""
        with self._lock:
            t = self._now()
            tr = self.trays[tray]
            hot = tr.temp.at(t)
            out = {"inlet": self.profile.thermal.air_inlet_c + self._n(f"inlet|{tray}", t, 0.15)}
            if tr.spec.gpus:
                supply = (self.profile.thermal.air_inlet_c if tr.spec.fans else self.profile.thermal.coolant_supply_c)
                for g in range(tr.spec.gpus):
                    derate = 1.0 - 0.02 * g  # GPUs further down the cold plate loop run a little cooler
                    out[f"gpu{g}"] = supply + (hot - supply) * derate + self._n(f"gpu|{tray}|{g}", t, 0.2)
            else:
                out["asic"] = hot + self._n(f"asic|{tray}", t, 0.2)
            if tr.spec.fans:
                p = self._tray_power_exact(tr)
                out["exhaust"] = (out["inlet"] + tr.spec.exhaust_c_per_kw * p / 1000.0 / self._airflow_frac(tr)
                                  if p else out["inlet"])
            for name in out:
                fault = self.sensor_faults.get(f"{tray}/{name}")
                if fault is not None:
                    out[name] = fault
            return out

    def busbar_v(self) -> float:
        with self._lock:
            t = self._now()
            v = self._busbar_v_exact(self.eload_current_a if self.eload_on else 0.0)
            return v + self._n("busbar_v", t, 0.02) if v else 0.0

    def eload_reading(self) -> tuple[float, float, float]:
        """(volts, amps, watts) at the electronic load's terminals."""
        with self._lock:
            t = self._now()
            v = self.busbar_v()
            i = self.eload_current_a if (self.eload_on and self.busbar_live) else 0.0
            i = i + self._n("eload_i", t, 0.001 * i) if i else 0.0
            return v, i, v * i

    def psu_reading(self, psu: str) -> dict[str, float]:
        with self._lock:
            t = self._now()
            out, inp = self._psu_output_exact(psu), self._psu_input_exact(psu)
            return {"output_w": out + self._n(f"psu_out|{psu}", t, 0.003 * out) if out else 0.0,
                    "input_w": inp + self._n(f"psu_in|{psu}", t, 0.003 * inp) if inp else 0.0,
                    "output_v": self.busbar_v() if out or self.busbar_live else 0.0,
                    "ac_ok": float(self._psu_has_ac(psu))}

    def shelf_output_w(self, shelf: str) -> float:
        with self._lock:
            return sum(self.psu_reading(p)["output_w"] for p in self.psus if p.startswith(shelf + "."))

    def outlet_power_w(self, pdu: str, outlet: int) -> float:
        with self._lock:
            t = self._now()
            p = self._outlet_power_exact(pdu, outlet)
            return max(0.0, p + self._n(f"outlet_w|{pdu}|{outlet}", t, 0.003 * p)) if p else 0.0

    def outlet_current_a(self, pdu: str, outlet: int) -> float:
        spec = self.pdu_specs[pdu]
        return self.outlet_power_w(pdu, outlet) / (spec.voltage_ln * spec.power_factor)

    def outlet_is_on(self, pdu: str, outlet: int) -> bool:
        with self._lock:
            self._now()
            return self.outlet_on[(pdu, outlet)]

    def outlet_energy_kwh(self, pdu: str, outlet: int) -> float:
        with self._lock:
            self._now()
            return self.energy_j[(pdu, outlet)] / 3.6e6

    def outlet_phase(self, pdu: str, outlet: int) -> int:
        return (outlet - 1) % self.pdu_specs[pdu].phases + 1

    def phase_current_a(self, pdu: str, phase: int) -> float:
        spec = self.pdu_specs[pdu]
        return sum(self.outlet_current_a(pdu, n) for n in range(1, spec.outlets + 1)
                   if self.outlet_phase(pdu, n) == phase)

    def pdu_input_w(self, pdu: str) -> float:
        """What the PDU's inlet carries (the power analyzer's view)."""
        with self._lock:
            spec = self.pdu_specs[pdu]
            outlets = sum(self.outlet_power_w(pdu, n) for n in range(1, spec.outlets + 1))
            return outlets + self.PDU_OVERHEAD_W

    def analyzer_reading(self, pdu: str) -> dict[str, float]:
        """Volts (line-neutral), amps, watts, power factor at a PDU inlet."""
        with self._lock:
            t = self._now()
            spec = self.pdu_specs[pdu]
            w = self.pdu_input_w(pdu)
            pf = spec.power_factor + self._n(f"pf|{pdu}", t, 0.001)
            v = spec.voltage_ln + self._n(f"v|{pdu}", t, 0.3)
            return {"V": v, "A": w / (v * pf * spec.phases), "W": w, "PF": min(1.0, pf)}

    def _supply_c(self, t: float) -> float:
        supply = self.profile.thermal.coolant_supply_c
        if self._no_flow_since is not None and self.profile.cdu is not None:
            supply += self.profile.cdu.supply_rise_c_per_min_no_flow * (t - self._no_flow_since) / 60.0
        return supply

    def _flow_lpm(self) -> float:
        if self.pumps and not any(self.pumps.values()):
            return 0.0
        return self.coolant_flow_lpm  # N+1: the remaining pumps speed up to hold the flow

    def coolant(self) -> dict[str, float]:
        """CDU secondary loop: supply/return temperature, flow, pressures, pump and leak states."""
        with self._lock:
            t = self._now()
            supply = self._supply_c(t)
            rise = self.coolant_return.at(t) - self.profile.thermal.coolant_supply_c
            flow = self._flow_lpm()
            out: dict[str, float] = {
                "supply_c": supply + self._n("coolant_supply", t, 0.05),
                "return_c": supply + rise + self._n("coolant_return", t, 0.05),
                "flow_lpm": max(0.0, flow + self._n("coolant_flow", t, 0.2)) if flow else 0.0}
            if self.profile.cdu is not None:
                cdu = self.profile.cdu
                running = sum(self.pumps.values())
                out["supply_pressure_kpa"] = (cdu.supply_pressure_kpa if running else cdu.return_pressure_kpa) + \
                    self._n("p_supply", t, 0.5)
                out["return_pressure_kpa"] = cdu.return_pressure_kpa + self._n("p_return", t, 0.5)
                # 60 % each with every pump running; the survivors speed up to hold the flow
                out["pump_speed_pct"] = min(100.0, 60.0 * len(self.pumps) / running) if running else 0.0
            return out

    def pump_states(self) -> dict[str, bool]:
        with self._lock:
            self._now()
            return dict(self.pumps)

    def leak_states(self) -> dict[str, str]:
        with self._lock:
            self._now()
            return dict(self.leak_detectors)

    def thermocouple_points(self) -> dict[str, float]:
        """What a thermocouple DAQ on the rack reads: coolant supply/return, air inlet and exhaust."""
        with self._lock:
            t = self._now()
            c = self.coolant()
            heat_kw = self._bus_load_w() / 1000.0
            return {"coolant_supply": c["supply_c"] + self._n("tc_supply", t, 0.1),
                    "coolant_return": c["return_c"] + self._n("tc_return", t, 0.1),
                    "air_inlet": self.profile.thermal.air_inlet_c + self._n("tc_inlet", t, 0.1),
                    "air_exhaust": self.profile.thermal.air_inlet_c + 0.15 * heat_kw + self._n("tc_exhaust", t, 0.1)}

    def rack_dc_power_w(self) -> float:
        with self._lock:
            self._now()
            return self._bus_load_w()

    # ------------------------------------------------------------------ exact curves (threshold watch)
    def sync(self) -> float:
        """Process every transition up to the clock's now (each one tells the watchers); returns now."""
        with self._lock:
            return self._now()

    def exact_signals(self) -> dict[str, tuple[str, float, float]]:
        """How each quantity a BMC judges against thresholds follows a source of :meth:`exact_sources`:
        key -> (source, ref, gain), value = ref + gain * (source - ref). Fixed for the rack. Keys:
        ``<tray>/gpu<n>``, ``<tray>/asic``, ``<tray>/inlet``, ``<tray>/power``, ``coolant/supply_c``,
        ``coolant/return_c``. Sensor faults (stuck, NaN) are not in it: they are not the physics."""
        th = self.profile.thermal
        out: dict[str, tuple[str, float, float]] = {}
        for name, tr in self.trays.items():
            ref = th.air_inlet_c if tr.spec.fans else th.coolant_supply_c
            for g in range(tr.spec.gpus):
                out[f"{name}/gpu{g}"] = (f"{name}/temp", ref, 1.0 - 0.02 * g)  # as tray_temperatures_c
            if not tr.spec.gpus:
                out[f"{name}/asic"] = (f"{name}/temp", ref, 1.0)
            out[f"{name}/inlet"] = ("air_inlet", 0.0, 1.0)
            out[f"{name}/power"] = (f"{name}/power", 0.0, 1.0)
        out["coolant/supply_c"] = ("coolant/supply", 0.0, 1.0)
        out["coolant/return_c"] = ("coolant/return", 0.0, 1.0)
        return out

    def exact_sources(self) -> dict[str, tuple[object, ...]]:
        """The noise-free curve of each source from the last state change until the next one, as
        parameters (see :func:`source_curve`). A snapshot: a watcher keeps it to find, exactly, when a
        value crossed a threshold between two changes, whoever reads the twin and when."""
        with self._lock:
            th = self.profile.thermal
            out: dict[str, tuple[object, ...]] = {"air_inlet": ("const", th.air_inlet_c)}
            for name, tr in self.trays.items():
                lag = tr.temp
                out[f"{name}/temp"] = ("lag", lag.t0, lag.v0, lag.target, lag.tau)
                out[f"{name}/power"] = ("const", self._tray_power_exact(tr))
            rate = self.profile.cdu.supply_rise_c_per_min_no_flow / 60.0 if self.profile.cdu else 0.0
            ramp = (th.coolant_supply_c, rate, self._no_flow_since)
            r = self.coolant_return
            out["coolant/supply"] = ("ramp", *ramp)
            out["coolant/return"] = ("ramp_lag", *ramp, r.t0, r.v0, r.target, r.tau)
            return out

    # ------------------------------------------------------------------ identity
    def serial_of(self, what: str) -> str:
        code = int(uniform(self.seed, f"serial|{what}", 0, 10**8))
        return f"{self.serial}-{what.upper().replace('.', '-')}-{code:08d}"

    def firmware_of(self, what: str) -> str:
        return "1.4.2" if "psu" in what else "25.06.3"

    def state_snapshot(self) -> dict[str, object]:
        """Discrete state, for tests and the safe-state readback of simulated runs."""
        with self._lock:
            self._now()
            return {"busbar_live": self.busbar_live, "eload_on": self.eload_on,
                    "outlets": {f"{p}:{n}": on for (p, n), on in self.outlet_on.items()},
                    "hosts": {n: t.host for n, t in self.trays.items()},
                    "bmcs": {n: t.bmc for n, t in self.trays.items()}}

    def start_powered(self) -> None:
        """Put the rack straight into 'AC on, BMCs ready, hosts per restore policy' at t=0."""
        with self._lock:
            for (pdu, n) in sorted(self.outlet_on):
                if n in self.pdu_specs[pdu].feeds:
                    self.outlet_on[(pdu, n)] = True
            self.busbar_live = True
            for tray in self.trays.values():
                tray.bmc = "Ready"
                tray.boot_count = 1
                if self.profile.power_restore_policy == "AlwaysOn":
                    tray.host, tray.os_running = "On", True
            for tray in self.trays.values():
                tray.temp = Lagged(tray.spec.tau_s, self.profile.thermal.coolant_supply_c +
                                   tray.spec.r_c_per_kw * self._tray_power_exact(tray) / 1000.0)
            heat_kw = sum(self._tray_power_exact(tr) for tr in self.trays.values()) / 1000.0
            self.coolant_return = Lagged(self.profile.thermal.coolant_tau_s,
                                         self.profile.thermal.coolant_supply_c + self._coolant_dt(heat_kw))



def source_curve(params: tuple[object, ...]) -> tuple[Callable[[float], float], bool, float | None]:
    """(value at t, monotone?, the value it settles at or None if it does not) for exact_sources() params."""
    kind = params[0]
    if kind == "const":
        v = float(params[1])  # type: ignore[arg-type]
        return (lambda t: v), True, v
    if kind == "lag":
        t0, v0, target, tau = (float(x) for x in params[1:])  # type: ignore[arg-type]
        return (lambda t: target + (v0 - target) * math.exp(-max(0.0, t - t0) / tau)), True, target
    base, rate = float(params[1]), float(params[2])  # type: ignore[arg-type]
    since = params[3]

    def supply(t: float) -> float:
        return base + (rate * max(0.0, t - since) if since is not None else 0.0)  # type: ignore[operator]
    if kind == "ramp":
        return supply, True, (base if since is None or rate == 0 else None)
    t0, v0, target, tau = (float(x) for x in params[4:])  # type: ignore[arg-type]

    def ret(t: float) -> float:  # supply ramp plus the lagged rise over it
        return supply(t) + target + (v0 - target) * math.exp(-max(0.0, t - t0) / tau) - base
    return ret, since is None, (target if since is None else None)
