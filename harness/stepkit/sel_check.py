"""Per-cycle SEL check for the power-cycling steps: no new critical entry in any BMC's log.

Each BMC's SEL is read before the first cycle and after every cycle (the "after" of one cycle is the
"before" of the next); an entry that was not there before and counts (``harness.stepkit.event_policy``:
Critical, or a leak) fails the cycle, naming what the message names (detector, sensor, PSU).
Power transitions and PSU input loss are not critical, so the cycle's own events never fail it.
One PASS per cycle when every readable SEL is clean; a SEL that cannot be read is SKIP, named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.drivers.redfish.client import BmcClient
from harness.drivers.redfish.sel import SelEntry, read_sel, sel_entries_uri
from harness.errors import DriverError
from harness.stepkit.event_policy import component_of, counts

if TYPE_CHECKING:
    from harness.stepkit.context import StepContext

Snapshot = dict[str, set[str] | None]  # BMC -> entry ids (None: not readable)


class SelCheck:
    def __init__(self, ctx: StepContext, expected: frozenset[str] = frozenset()) -> None:
        self.ctx, self.expected = ctx, frozenset(expected)
        self.names = sorted(ctx.rack.bmcs)
        self._uris: dict[str, str] = {}
        self._last: dict[str, list[SelEntry] | None] = {}

    def _read(self, name: str) -> list[SelEntry] | None:
        def read(client: BmcClient) -> list[SelEntry]:
            uri = sel_entries_uri(client, self._uris)
            return read_sel(client, uri) if uri else []
        try:
            return self.ctx.rack.bmc(name, read)
        except DriverError:
            return None

    def snapshot(self) -> Snapshot:
        """Read every SEL now (before the first cycle)."""
        self._last = self.ctx.rack.parallel(self._read, self.names)
        return {n: None if e is None else {x.entry_id for x in e} for n, e in self._last.items()}

    def judge(self, before: Snapshot, meta: dict[str, object]) -> Snapshot:
        """Read every SEL again, record this cycle's verdict, return the new snapshot."""
        after = self.snapshot()
        bad: list[SelEntry] = []
        for name in self.names:
            entries, seen = self._last[name], before.get(name)
            if entries is None or seen is None:
                self.ctx.skip("sel_no_new_critical", f"{name}: SEL not readable before or after the cycle",
                              component=name, meta=meta)
                continue
            bad += [e for e in entries if e.entry_id not in seen and counts(e.key, e.severity, self.expected)]
        for e in bad:
            self.ctx.require("sel_no_new_critical", False, component=component_of(e), meta={**meta, "bmc": e.bmc},
                             message=f"new SEL entry on {e.bmc}: {e.message_id}: {e.message}")
        if not bad:
            self.ctx.require("sel_no_new_critical", True, component="rack", meta={**meta, "bmcs": len(self.names)})
        return after
