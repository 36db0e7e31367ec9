"""Failing components, cause first: what the report's first table lists, in the order a technician should
look at them.

Two rules, kept as data so they can be read and extended:

1. A component whose failure explains another's comes before it. Each failing check is a *cause* or a
   *symptom* in a domain (power, cooling): a failed PSU (``psu_sharing``, its health, a
   PowerSupplyFailed event) is a power cause; the PDU's phase imbalance, the shelf's health, efficiency
   or busbar voltage are power symptoms; a pump or fan event is a cooling cause and temperatures are
   cooling symptoms. A component whose every failing check is a symptom in a domain where another
   component has a cause is listed after the causes, marked "likely a consequence of" them.
2. Otherwise the earliest failing check first (plan order, then the time it was taken).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.results.store import MeasurementRow, StepRow

POWER, COOLING = "power", "cooling"
CAUSES: dict[str, str] = {"psu_sharing": POWER, "psu_dropped": POWER, "psu_restored": POWER,
                          "leak_detector_ok": COOLING}
SYMPTOMS: dict[str, str] = {
    **dict.fromkeys(("phase_imbalance_pct", "psu_input_w", "psu_efficiency_pct", "power_factor", "power_agreement_pct",
                     "busbar_v_min", "busbar_v_max", "rack_ac_power_w", "redundancy_reported", "redundancy_restored",
                     "rack_stayed_up"), POWER),
    **dict.fromkeys(("component_temp_c", "temp_slope_c_per_min", "coolant_dt_c", "coolant_dt_error_pct",
                     "coolant_supply_c", "air_inlet_c", "sensor_within_thresholds"), COOLING),
}
HEALTH_KIND = {"psu": (POWER, True), "power_shelf": (POWER, False), "cdu": (COOLING, True)}  # kind -> (domain, cause)
EVENT_WORDS = (("PowerSupply", POWER, True), ("Pump", COOLING, True), ("Fan", COOLING, True),
               ("Leak", COOLING, True), ("Temperature", COOLING, False))  # Redfish MessageId word -> ...


def role(m: MeasurementRow) -> tuple[str | None, bool]:
    """A failing check's (domain, is it a cause); (None, True) for a check no rule knows: it stands alone."""
    meta = m.meta or {}
    if m.name in CAUSES:
        return CAUSES[m.name], True
    if m.name in SYMPTOMS:
        return SYMPTOMS[m.name], False
    if m.name == "healthy" and str(meta.get("kind")) in HEALTH_KIND:
        return HEALTH_KIND[str(meta["kind"])]
    if m.name == "no_critical_event":
        message_id = str(meta.get("message_id", ""))
        for word, domain, cause in EVENT_WORDS:
            if word in message_id:
                return domain, cause
    return None, True


@dataclass
class FailingComponent:
    name: str
    rows: list[tuple[StepRow, MeasurementRow]] = field(default_factory=list)
    explained_by: list[str] = field(default_factory=list)  # components whose failure likely caused this one's

    @property
    def first(self) -> tuple[int, float, int]:
        """When it first failed: plan order, then the time taken, then the order recorded."""
        return min((s.index, m.t_sim, m.id or 0) for s, m in self.rows)


def failing_components(final: Sequence[tuple[StepRow, MeasurementRow]]) -> list[FailingComponent]:
    """The failing measurements grouped by component, causes first, each group's rows in the order taken."""
    groups: dict[str, FailingComponent] = {}
    for s, m in final:
        if m.verdict == "FAIL":
            name = m.component or "(rack)"
            groups.setdefault(name, FailingComponent(name)).rows.append((s, m))
    causes: dict[str, set[str]] = {}  # domain -> components with a cause in it
    for c in groups.values():
        for _, m in c.rows:
            domain, cause = role(m)
            if domain is not None and cause:
                causes.setdefault(domain, set()).add(c.name)
    for c in groups.values():
        roles = [role(m) for _, m in c.rows]
        if any(domain is None or cause for domain, cause in roles):
            continue  # it has a failure of its own
        domains = {domain or "" for domain, _ in roles}
        by = {d: causes.get(d, set()) - {c.name} for d in domains}
        if all(by.values()):  # every symptom it shows has a cause elsewhere
            c.explained_by = sorted(set().union(*by.values()), key=lambda n: groups[n].first)
    return sorted(groups.values(), key=lambda c: (bool(c.explained_by), c.first))
