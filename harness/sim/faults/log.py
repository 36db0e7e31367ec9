"""The simulated station's fault log: what each injected fault did to the rack, and when.

A scenario *arms* faults; the hooks that carry them append here only when the fault *acts*: a PSU
fails, a request meets a BMC that is down or a session that was evicted, a datagram is dropped, a
sensor serves its stuck value, a host power-on never completes, the operator's Ctrl-C is sent. So a
test can tell a fault that did its work from a hook that did nothing (a PASS verdict alone cannot).

Repeats of one effect on one device are counted on one entry (first and last simulated time), so a
fault that meets every request stays one line. Times are the run's clock (simulated seconds), never
wall time, and the log writes nothing to the run's own log: what the harness *observed* is judged
separately, from the run's records (``harness/sim/faults/evidence.py``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from harness.clock import Clock


@dataclass
class FaultActed:
    """One effect of one fault on one device (repeats counted)."""

    fault: str  # "<target>.<action>": twin.fail_psu, redfish.unreachable, snmp.loss, scpi.drop, process.sigint
    device: str  # what it acted on: shelf1.psu3, compute01, compute01/gpu0, pdu1, analyzer
    effect: str  # what it did: "connection reset", "request dropped", "stuck value served"
    scenario: str  # the scenario that armed it ("" when a test armed the hook directly)
    first_s: float
    last_s: float
    count: int = 1
    detail: str = ""  # the first occurrence's specifics (the request it met)

    def on(self, device: str) -> bool:
        """Did it act on ``device`` or a part of it (``server01`` covers ``server01.fan1``, ``compute01/gpu0``)?"""
        return self.device == device or self.device.startswith((device + ".", device + "/"))

    def describe(self) -> str:
        times = f"{self.first_s:.1f} s" if self.count == 1 else f"{self.first_s:.1f}-{self.last_s:.1f} s, x{self.count}"
        return (f"{self.fault} on {self.device}: {self.effect} ({times})" + (f" [{self.detail}]" if self.detail else "")
                + (f" <- {self.scenario}" if self.scenario else ""))


class FaultLog:
    """Thread-safe: simulators on many threads report into it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._armed: dict[tuple[str, str | None], str] = {}  # (fault, device or None) -> scenario
        self._entries: dict[tuple[str, str, str], FaultActed] = {}

    def arm(self, scenario: str, fault: str, device: str | None = None) -> None:
        """``scenario`` armed ``fault`` (on ``device``; None: the fault names its device when it acts)."""
        with self._lock:
            self._armed[(fault, device)] = scenario

    def acted(self, fault: str, device: str, effect: str, detail: str = "", *, at_s: float | None = None) -> None:
        """The fault did ``effect`` to ``device`` now (or at ``at_s``: a transition the twin processes late)."""
        t = self.clock.now() if at_s is None else at_s
        with self._lock:
            entry = self._entries.get((fault, device, effect))
            if entry is None:
                scenario = self._armed.get((fault, device)) or self._armed.get((fault, None), "")
                self._entries[(fault, device, effect)] = FaultActed(fault, device, effect, scenario, t, t,
                                                                    detail=detail)
            else:
                entry.count += 1
                entry.last_s = max(entry.last_s, t)

    def entries(self) -> list[FaultActed]:
        """Every effect so far, in the order they first happened."""
        with self._lock:
            return sorted(self._entries.values(), key=lambda e: e.first_s)

    def find(self, fault: str, device: str | None = None) -> list[FaultActed]:
        """Entries of ``fault`` (on ``device``, or on a part of it: ``server01`` finds ``server01.fan1``)."""
        return [e for e in self.entries() if e.fault == fault and (device is None or e.on(device))]

    def describe(self) -> str:
        return "\n".join(e.describe() for e in self.entries()) or "(no fault acted)"
