"""The trays' hosts through their BMCs: resets, power states, and the waits for BMCs and hosts.

Implements :class:`~harness.rack.capabilities.HostPower`. A Reset is sent once; when its answer is
lost the outcome is read back, never re-sent. Every wait is a deadline on the run's clock
(:func:`harness.clock.wait_until`); inside the safe state it also ends when the safe state's budget
does, so a dead BMC cannot hang it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.clock import Deadline, wait_until
from harness.errors import PowerActionUncertain, TransientDriverError

if TYPE_CHECKING:
    from harness.rack.rack import Rack

log = logging.getLogger(__name__)


class Hosts:
    def __init__(self, rack: Rack) -> None:
        self.rack = rack

    @property
    def trays(self) -> list[str]:
        return self.rack.trays

    def _time_up(self) -> bool:
        """In the safe state, waits end when its budget does (harness.safety: a dead device must not hang it)."""
        budget = self.rack.safety.current
        return budget is not None and budget.expired()

    def bmcs_up(self, names: list[str] | None = None) -> dict[str, bool]:
        return self.rack.each_bmc(lambda c: c.is_up(), names or list(self.rack.bmcs))

    def power_states(self, names: list[str] | None = None) -> dict[str, str]:
        """Host PowerState per tray; 'Unreachable' when the BMC does not answer."""
        def read(name: str) -> str:
            try:
                return self.rack.bmc(name, lambda c: c.power_state())
            except TransientDriverError:
                return "Unreachable"
        return self.rack.parallel(read, names or self.trays)

    def wait_bmcs_up(self, since: float, timeout_s: float, poll_s: float,
                     names: list[str] | None = None) -> dict[str, float | None]:
        """Seconds from ``since`` until each BMC answered (None if it never did before the deadline)."""
        return self._wait_each(self.bmcs_up, list(names or self.rack.bmcs), since, timeout_s, poll_s)

    def wait_hosts(self, target: str, since: float, timeout_s: float, poll_s: float,
                   names: list[str] | None = None) -> dict[str, float | None]:
        """Seconds from ``since`` until each host reports ``target`` (None if not by the deadline)."""
        def at_target(pending: list[str]) -> dict[str, bool]:
            return {n: s == target for n, s in self.power_states(pending).items()}
        return self._wait_each(at_target, list(names or self.trays), since, timeout_s, poll_s)

    def _wait_each(self, arrived: Callable[[list[str]], dict[str, bool]], pending: list[str], since: float,
                   timeout_s: float, poll_s: float) -> dict[str, float | None]:
        """Poll ``arrived`` for the names still pending; each name's time is its own (from ``since``)."""
        result: dict[str, float | None] = {}

        def poll() -> bool:
            done = arrived(pending)
            now = self.rack.clock.now()
            result.update({n: now - since for n, ok in done.items() if ok})
            pending[:] = [n for n in pending if n not in result]
            return not pending

        if pending:
            wait_until(self.rack.clock, poll, timeout=timeout_s, poll=poll_s, stop=self._time_up)
        result.update({n: None for n in pending})
        return result

    def wait_boot(self, since: float, bmc_timeout_s: float, host_timeout_s: float,
                  poll_s: float) -> dict[str, tuple[float | None, float | None]]:
        """After AC on: per tray, seconds from ``since`` to its BMC answering and to its host On.

        One polling loop for every tray, so each tray's times are its own (not the slowest BMC's); a
        tray stops being waited for once its own deadline (BMC or host) has passed.
        """
        clock, trays = self.rack.clock, self.trays
        bmc_s: dict[str, float] = {}
        host_s: dict[str, float] = {}

        def poll() -> bool:
            now = clock.now()
            waiting_bmc = [t for t in trays if t not in bmc_s] if now <= since + bmc_timeout_s else []
            waiting_host = [t for t in bmc_s if t not in host_s] if now <= since + host_timeout_s else []
            if not waiting_bmc and not waiting_host:
                return True
            for tray, up in (self.bmcs_up(waiting_bmc) if waiting_bmc else {}).items():
                if up:
                    bmc_s[tray] = now - since
                    waiting_host.append(tray)
            for tray, state in (self.power_states(waiting_host) if waiting_host else {}).items():
                if state == "On":
                    host_s[tray] = now - since
            return False

        # past both deadlines nothing is waited for, so the poll ends it; the extra poll_s keeps every
        # sleep a whole poll_s (the deadline is never what shortens one)
        last = Deadline(clock, since + max(bmc_timeout_s, host_timeout_s) + poll_s)
        wait_until(clock, poll, deadline=last, poll=poll_s)
        return {t: (bmc_s.get(t), host_s.get(t)) for t in trays}

    def reset(self, tray: str, reset_type: str) -> bool:
        """Send one Reset. Returns False when the outcome is uncertain (the caller reads back)."""
        try:
            self.rack.bmc(tray, lambda c: c.reset(reset_type))
            return True
        except PowerActionUncertain as exc:
            log.warning("%s: reset %s uncertain (%s); reading back, not re-sending", tray, reset_type, exc)
            return False

    def set_power_limit(self, tray: str, watts: float | None) -> None:
        """Cap a tray's power (Redfish PowerLimitWatts, read back); None removes the cap."""
        self.rack.bmc(tray, lambda c: c.set_power_limit(watts))

    def boot_progress(self, tray: str) -> str | None:
        return self.rack.bmc(tray, lambda c: c.boot_progress())
