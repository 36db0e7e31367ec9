"""Which Redfish events fail the step they happen in, and what such a failure names.

Shared by the run's event monitor (SSE and the SEL at every step's end) and the per-cycle SEL check
of the power-cycling steps, so both judge an event the same way.

What counts: severity Critical (critical thresholds, PSU or pump failed) and any leak (Warning or
Critical), unless the step kind declares it expected (``StepKind.expected_events``: message keys such
as ``"PowerSupplyFailed"``). Power transitions, PSU input loss (Warning) and caution thresholds never
count, so AC/DC cycling and PSU redundancy steps do not fail on what they cause.
"""

from __future__ import annotations

from harness.drivers.redfish.events import RedfishEvent
from harness.drivers.redfish.sel import SelEntry

LEAK_KEYS = frozenset({"LeakDetectedWarning", "LeakDetectedCritical"})


def counts(key: str, severity: str | None, expected: frozenset[str] = frozenset()) -> bool:
    """Does an event fail the step it happened in?"""
    return key not in expected and (severity == "Critical" or key in LEAK_KEYS)


def component_of(e: SelEntry | RedfishEvent) -> str:
    """What to name: the first message argument (detector, sensor label, PSU, pump), else the BMC."""
    return e.args[0] if e.args else e.bmc
