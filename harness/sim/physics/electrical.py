"""The rack's power path, noise-free: PDU outlets and their relays, branch breakers, PSUs, the busbar
(soft start, droop, collapse on overload), the electronic load on it, and the energy each outlet metered.

Power: tray = idle + util x (max - idle) when On, standby otherwise, nothing without the bus; PSUs
share the bus load equally; AC in = DC out / efficiency(load) + no-load loss; outlet = its PSU's input.
Protection is judged at every state change (currents only change then, so it is deterministic).
"""

from __future__ import annotations

from bisect import bisect_right

from harness.config.profile import Profile
from harness.sim.physics.devices import PduDevice, Psu, Tray
from harness.sim.physics.hosts import Hosts
from harness.sim.physics.params import Branch, Physics
from harness.sim.physics.scheduler import Scheduler

SOFT_START_S = 1.5  # AC on a PSU -> busbar live
PDU_OVERHEAD_W = 12.0  # what a PDU's own electronics draw at its inlet

Outlet = tuple[str, int]  # (pdu, outlet number)


class Electrical:
    """Outlets, breakers, PSUs, busbar and load. Callers hold the scheduler's lock, brought up to now."""

    def __init__(self, sched: Scheduler, hosts: Hosts, profile: Profile, physics: Physics) -> None:
        self.sched, self.hosts, self.trays = sched, hosts, hosts.trays
        self.physics = physics
        self.psus: dict[str, Psu] = {}
        for sg in profile.shelves:
            rated = physics.shelf(sg).psu_rated_w
            for shelf in sg.names():
                for i in range(sg.psus):
                    psu = Psu(shelf, i + 1, rated)
                    self.psus[psu.name] = psu
        self.pdu_specs: dict[str, PduDevice] = {p.name: PduDevice.of(p, physics.pdu(p)) for p in profile.pdus}
        self.feeds: dict[str, Outlet] = {}  # psu name -> (pdu, outlet)
        self.outlet_on: dict[Outlet, bool] = {}
        self.outlet_gen: dict[Outlet, int] = {}
        self.outlet_pending: set[Outlet] = set()
        for pdu in self.pdu_specs.values():
            for n in range(1, pdu.outlets + 1):
                self.outlet_on[(pdu.name, n)] = False
                self.outlet_gen[(pdu.name, n)] = 0
            for n, psu_name in pdu.feeds.items():
                self.feeds[psu_name] = (pdu.name, n)
        self.psu_failed: set[str] = set()
        self.breaker_tripped: dict[tuple[str, str], bool] = {
            (pdu.name, b.name): False for pdu in self.pdu_specs.values() for b in pdu.branches}
        self.busbar_live = False
        self._busbar_gen = 0
        self._busbar_pending = False
        self.eload_on = False
        self.eload_current_a = 0.0
        self.energy_j: dict[Outlet, float] = {k: 0.0 for k in self.outlet_on}
        self._energy_t = 0.0

    # ------------------------------------------------------------------ protection
    def check_breakers(self) -> None:
        """PSUs first: a bus load above what the PSUs with AC can deliver collapses the bus (the PSUs
        current-limit and shut down; once the load is gone they restart after soft start, as real
        shelves hiccup). Then branch breakers: a branch whose current exceeds its rating trips and its
        outlets go dark."""
        if self.busbar_live and self.bus_load_w() > self.bus_capacity_w():
            self._bus_down("PSU overload")
            self._update_busbar()  # AC is still there: the bus comes back after soft start
        for pdu in self.pdu_specs.values():
            for b in pdu.branches:
                if self.breaker_tripped[(pdu.name, b.name)]:
                    continue
                amps = sum(self.outlet_power_w(pdu.name, n) for n in b.outlets) / (
                    pdu.voltage_ln * pdu.power_factor)
                if amps > b.rating_a:
                    self._open_branch(pdu.name, b, amps)

    def _open_branch(self, pdu: str, branch: Branch, amps: float) -> None:
        self.breaker_tripped[(pdu, branch.name)] = True
        self.sched.emit("breaker", pdu=pdu, branch=branch.name, amps=amps, tripped=True)
        for n in branch.outlets:
            self.outlet_gen[(pdu, n)] += 1
            self.outlet_pending.discard((pdu, n))
            self._set_relay((pdu, n), False)

    def force_trip(self, pdu: str, branch: str) -> None:
        if (pdu, branch) not in self.breaker_tripped:
            raise KeyError(f"{pdu} has no branch {branch!r}")
        self._open_branch(pdu, next(b for b in self.pdu_specs[pdu].branches if b.name == branch), 0.0)

    def reset_breaker(self, pdu: str, branch: str) -> None:
        self.breaker_tripped[(pdu, branch)] = False
        self.sched.emit("breaker", pdu=pdu, branch=branch, tripped=False)

    def breaker_of(self, pdu: str, outlet: int) -> str | None:
        return next((b.name for b in self.pdu_specs[pdu].branches if outlet in b.outlets), None)

    # ------------------------------------------------------------------ outlets
    def _key(self, pdu: str, outlet: int) -> Outlet:
        if (pdu, outlet) not in self.outlet_on:
            raise KeyError(f"{pdu} has no outlet {outlet}")
        return (pdu, outlet)

    def set_outlet(self, pdu: str, outlet: int, on: bool) -> None:
        """Off acts at once, on after the relay delay (unless the branch breaker is open by then)."""
        key = self._key(pdu, outlet)
        self.outlet_gen[key] += 1
        gen = self.outlet_gen[key]
        if not on:
            self.outlet_pending.discard(key)
            self._set_relay(key, False)
            return
        self.outlet_pending.add(key)

        def close() -> None:
            if self.outlet_gen[key] == gen:
                self.outlet_pending.discard(key)
                branch = self.breaker_of(*key)
                if branch is None or not self.breaker_tripped[(key[0], branch)]:
                    self._set_relay(key, True)
                    self.check_breakers()

        self.sched.schedule(self.physics.timing.outlet_on_delay_s, close)

    def reboot_outlet(self, pdu: str, outlet: int, off_s: float) -> None:
        key = self._key(pdu, outlet)
        self.outlet_gen[key] += 1
        gen = self.outlet_gen[key]
        self._set_relay(key, False)
        self.outlet_pending.add(key)

        def close() -> None:
            if self.outlet_gen[key] == gen:
                self.outlet_pending.discard(key)
                self._set_relay(key, True)

        self.sched.schedule(off_s, close)

    def _set_relay(self, key: Outlet, on: bool) -> None:
        if self.outlet_on[key] == on:
            return
        self.outlet_on[key] = on
        self.sched.emit("outlet", pdu=key[0], outlet=key[1], on=on)
        self._update_busbar()

    # ------------------------------------------------------------------ PSUs and busbar
    def psu_has_ac(self, psu: str) -> bool:
        feed = self.feeds.get(psu)
        return feed is not None and self.outlet_on[feed] and psu not in self.psu_failed

    def active_psus(self) -> list[Psu]:
        return [p for name, p in self.psus.items() if self.psu_has_ac(name)]

    def fail_psu(self, psu: str, failed: bool) -> None:
        (self.psu_failed.add if failed else self.psu_failed.discard)(psu)
        self.sched.emit("psu", psu=psu, failed=failed)
        self._update_busbar()

    def _update_busbar(self) -> None:
        any_ac = bool(self.active_psus())
        if any_ac and not self.busbar_live and not self._busbar_pending:
            self._busbar_gen += 1
            self._busbar_pending = True
            gen = self._busbar_gen

            def live() -> None:
                if self._busbar_gen != gen:
                    return
                self._busbar_pending = False
                if self.active_psus():
                    self.busbar_live = True
                    self.sched.emit("busbar", live=True)
                    self.hosts.boot_all()

            self.sched.schedule(SOFT_START_S, live)
        elif not any_ac:
            self._busbar_gen += 1
            self._busbar_pending = False
            self._bus_down("no AC on any PSU")

    def _bus_down(self, reason: str) -> None:
        """The busbar loses its voltage: every tray loses power (BMC and host)."""
        if not self.busbar_live:
            return
        self.busbar_live = False
        self.sched.emit("busbar", live=False, reason=reason)
        self.hosts.lose_power()

    def set_eload(self, current_a: float | None, input_on: bool | None) -> None:
        if current_a is not None:
            self.eload_current_a = max(0.0, current_a)
        if input_on is not None:
            self.eload_on = input_on

    def start_powered(self) -> None:
        """Every outlet that feeds a PSU on and the bus live, at t=0, without events."""
        for (pdu, n) in sorted(self.outlet_on):
            if n in self.pdu_specs[pdu].feeds:
                self.outlet_on[(pdu, n)] = True
        self.busbar_live = True

    # ------------------------------------------------------------------ exact (noise-free) power
    def tray_power_w(self, tray: Tray) -> float:
        if not self.busbar_live or tray.bmc == "Down":
            return 0.0
        if tray.host != "On":
            return tray.spec.standby_w
        p = tray.spec.idle_w + tray.utilization * (tray.spec.max_w - tray.spec.idle_w)
        if tray.power_cap_w is not None:
            p = min(p, max(tray.spec.idle_w * 0.6, tray.power_cap_w))
        return p

    def bus_capacity_w(self) -> float:
        return sum(p.rated_w for p in self.active_psus())

    def busbar_v(self, eload_a: float) -> float:
        if not self.busbar_live:
            return 0.0
        cap = self.bus_capacity_w() or 1.0
        trays = sum(self.tray_power_w(t) for t in self.trays.values())
        nominal = self.physics.busbar.nominal_v
        droop = self.physics.busbar.droop_v_at_full
        # V = Vn - droop * (trays + V*I)/cap  ->  solve for V
        return (nominal - droop * trays / cap) / (1.0 + droop * eload_a / cap)

    def eload_power_w(self) -> float:
        if not (self.eload_on and self.busbar_live):
            return 0.0
        return self.busbar_v(self.eload_current_a) * self.eload_current_a

    def bus_load_w(self) -> float:
        return sum(self.tray_power_w(t) for t in self.trays.values()) + self.eload_power_w()

    def efficiency(self, load_fraction: float) -> float:
        pts = self.physics.psu_efficiency
        xs = [p[0] for p in pts]
        if load_fraction <= xs[0]:
            return pts[0][1]
        if load_fraction >= xs[-1]:
            return pts[-1][1]
        i = bisect_right(xs, load_fraction)
        (x0, y0), (x1, y1) = pts[i - 1], pts[i]
        return y0 + (y1 - y0) * (load_fraction - x0) / (x1 - x0)

    def psu_output_w(self, psu: str) -> float:
        if not self.busbar_live or not self.psu_has_ac(psu):
            return 0.0
        active = self.active_psus()
        return self.bus_load_w() / len(active) if active else 0.0

    def psu_input_w(self, psu: str) -> float:
        if not self.psu_has_ac(psu):
            return 0.0
        out = self.psu_output_w(psu)
        rated = self.psus[psu].rated_w
        return out / self.efficiency(out / rated) + self.physics.psu_noload_w

    def outlet_power_w(self, pdu: str, outlet: int) -> float:
        if not self.outlet_on[(pdu, outlet)]:
            return 0.0
        psu = self.pdu_specs[pdu].feeds.get(outlet)
        return self.psu_input_w(psu) if psu else 0.0

    def accumulate_energy(self, t: float) -> None:
        """Integrate every outlet's power up to ``t`` (power is constant between state changes)."""
        dt = t - self._energy_t
        if dt <= 0:
            return
        for key in self.energy_j:
            if self.outlet_on[key]:
                self.energy_j[key] += self.outlet_power_w(*key) * dt
        self._energy_t = t
