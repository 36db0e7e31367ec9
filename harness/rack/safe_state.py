"""The plan's safe-state policy as actions on the rack, each with the readback that proves it.

Registered with the rack's :class:`~harness.safety.SafetyRegistry` when the rack is built (loads off,
then outlets on or off, then hosts to the policy's state) and when a GPU workload first starts
(workloads stopped). Only what differs from the target is switched: no power action is re-sent blindly;
hosts whose BMC answers are switched at once, those still booting (after an AC cycle) as they come up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.errors import HostUnreachable
from harness.safety import SafeAction

if TYPE_CHECKING:
    from harness.rack.rack import Rack


class SafeStatePolicy:
    def __init__(self, rack: Rack) -> None:
        self.rack = rack
        self.workloads_registered = False

    def register(self) -> None:
        policy, safety = self.rack.policy, self.rack.safety
        safety.register(SafeAction("loads off", self._loads_off, self._loads_readback, order=0))
        if policy.outlets == "on":
            safety.register(SafeAction("outlets on", lambda: self._outlets_to(True),
                                       lambda: self._outlets_readback(True), order=1))
        if policy.hosts != "unchanged" and policy.outlets == "on":
            target = "On" if policy.hosts == "on" else "Off"
            safety.register(SafeAction(f"hosts {target}", lambda: self._hosts_to(target),
                                       lambda: self._hosts_readback(target), order=2))
        if policy.outlets == "off":
            safety.register(SafeAction("outlets off", lambda: self._outlets_to(False),
                                       lambda: self._outlets_readback(False), order=3))

    def workload_starting(self) -> None:
        """A GPU workload is about to run: from now on the safe state must stop it (and prove it)."""
        if not self.workloads_registered:
            self.workloads_registered = True
            self.rack.safety.register(SafeAction("workloads stopped", self._workloads_off, self._workloads_readback,
                                                 order=0))

    # ------------------------------------------------------------------ loads
    def _loads_off(self) -> None:
        if self.rack.load is not None:
            self.rack.load.input_off()
        if self.rack.ac_source is not None:
            self.rack.ac_source.output_off()

    def _loads_readback(self) -> str | None:
        problems = []
        load = self.rack.load
        if load is not None:
            if load.input_enabled:
                problems.append("electronic load input still on")
            else:
                _, amps, _ = load.measure()
                if amps >= 0.5:
                    problems.append(f"electronic load still draws {amps:.2f} A")
        if self.rack.ac_source is not None and self.rack.ac_source.output_enabled:
            problems.append("AC source output still on")
        return "; ".join(problems) or None

    # ------------------------------------------------------------------ workloads
    def _workloads_off(self) -> None:
        workloads = self.rack.workloads

        def stop(tray: str) -> None:
            try:
                workloads[tray].stop()
            except HostUnreachable:
                pass  # no OS, no workload: the readback checks the host is really off
        self.rack.parallel(stop, list(workloads))

    def _workloads_readback(self) -> str | None:
        rack = self.rack

        def check(tray: str) -> str | None:
            w = rack.workloads[tray]
            try:
                per_gpu = w.gpu_power_w()
            except HostUnreachable:
                state = rack.hosts.power_states([tray])[tray]
                if state in ("Off", "PoweringOff"):
                    return None
                boot = rack.hosts.boot_progress(tray) if state == "On" else None
                if boot is not None and boot != "OSRunning":
                    return None  # the host OS is not up (booting): no workload can be running
                return f"{tray}: host {state}, OS {boot or 'state unknown'}, but SSH does not answer"
            busy = [p for p in per_gpu if p > 0.3 * w.gpu_tdp_w]
            return f"{tray}: GPUs still at {max(busy):.0f} W" if busy else None
        problems = [p for p in rack.parallel(check, list(rack.workloads)).values() if p]
        return "; ".join(problems) or None

    # ------------------------------------------------------------------ outlets
    def _outlets_to(self, on: bool) -> None:
        feeds = self.rack.feeds
        # only what differs (never re-send a power action blindly); every outlet is tried
        feeds.switch([o for o, state in feeds.states().items() if state != on], on, 0.0)

    def _outlets_readback(self, on: bool) -> str | None:
        wrong = [o.label for o, s in self.rack.feeds.states().items() if s != on]
        return f"{', '.join(wrong)} not {'on' if on else 'off'}" if wrong else None

    # ------------------------------------------------------------------ hosts
    def _hosts_to(self, target: str, timeout_s: float = 600.0) -> None:
        """Hosts to ``target``: the reachable ones at once, then the ones whose BMC is still booting (after
        an AC cycle) as they come up; a BMC that never answers does not hold up the others."""
        rack, hosts = self.rack, self.rack.hosts
        budget = rack.safety.current
        if budget is not None:
            timeout_s = min(timeout_s, budget.remaining())
        since = rack.clock.now()
        up = hosts.bmcs_up(rack.trays)
        self._switch_hosts(target, [n for n, ok in up.items() if ok])
        down = [n for n, ok in up.items() if not ok]
        answering = [n for n, ok in up.items() if ok]
        if down:
            came = [n for n, t in hosts.wait_bmcs_up(since, timeout_s, 5.0, names=down).items() if t is not None]
            self._switch_hosts(target, came)
            answering += came
        if answering:  # the readback reports the BMCs that never answered
            hosts.wait_hosts(target, since, max(0.0, timeout_s - (rack.clock.now() - since)), 2.0, names=answering)

    def _switch_hosts(self, target: str, names: list[str]) -> None:
        """One Reset to each named host that is not at (or settling to) ``target``; never re-sent blindly."""
        if not names:
            return
        states = self.rack.hosts.power_states(names)
        settling = ("PoweringOn",) if target == "On" else ("PoweringOff",)
        todo = [n for n, s in states.items() if s not in (target, "Unreachable") and s not in settling]
        if target == "Off":
            todo += [n for n, s in states.items() if s == "PoweringOn"]
        for name in todo:
            self.rack.hosts.reset(name, "On" if target == "On" else "ForceOff")

    def _hosts_readback(self, target: str) -> str | None:
        wrong = {n: s for n, s in self.rack.hosts.power_states().items() if s != target}
        return ", ".join(f"{n} is {s}" for n, s in sorted(wrong.items())) or None
