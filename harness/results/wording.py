"""How a stored measurement reads in the report, `results show` and the CSV export: its value, its limit,
the setpoint or condition it was taken at, and the diagnosis a technician acts on.

One place, so the three outputs say the same thing in the same words. The step kinds put what they
know into a measurement's metadata (``setpoint_a``, ``cycle``, ``message``...); this module only reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.results.store import MeasurementRow

# metadata key -> how the condition a measurement was taken at reads (in this order)
CONDITIONS: dict[str, str] = {
    "setpoint_a": "{:g} A load",
    "setpoint_pct": "{:g} % GPU TDP",
    "level_pct": "{:g} % load",
    "limit_w": "cap {:g} W",
    "psu": "{} pulled",
    "cycle": "cycle {}",
    "reset_type": "{}",
}
SHOWN = {*CONDITIONS, "message", "detail"}  # metadata keys the report shows in a column of their own
UNITS = {"Cel": "°C"}  # UCUM in the store, the usual sign in text


def unit(code: str) -> str:
    return UNITS.get(code, code)


def measured(m: MeasurementRow) -> str:
    """The value as the tables show it: its text, or the number to six significant digits."""
    return m.value_text if m.value_text is not None else f"{m.value:.6g}" if m.value is not None else ""


def limits(m: MeasurementRow) -> str:
    """``"<limit>: ≥ low and ≤ high <unit>"``, or nothing for a measurement without bounds."""
    if m.low is None and m.high is None:
        return ""
    parts = ([f"≥ {m.low:g}"] if m.low is not None else []) + ([f"≤ {m.high:g}"] if m.high is not None else [])
    return f"{m.limit_name or ''}: {' and '.join(parts)} {m.unit}".strip()


def setpoint(meta: Mapping[str, Any] | None) -> str:
    """The setpoint or condition a measurement was taken at ("200 A load", "cycle 3"), or ""."""
    meta = meta or {}
    out = []
    for key, fmt in CONDITIONS.items():
        v = meta.get(key)
        if v is None or v == "":
            continue
        try:
            out.append(fmt.format(float(v) if "{:g}" in fmt else v))
        except (TypeError, ValueError):
            out.append(f"{key} {v}")
    return ", ".join(out)


def diagnosis(m: MeasurementRow) -> str:
    """What a failing (or otherwise noteworthy) measurement means, in the step's own words when it gave
    some ("draws 0 W against a shelf mean of 512 W"), else how far the value is outside its limit."""
    meta = m.meta or {}
    said = str(meta.get("message") or meta.get("detail") or "")
    if said or m.verdict != "FAIL" or m.value is None or m.value_text is not None:
        return said
    sign = unit(m.unit)
    sign = f" {sign}" if sign and sign != "%" else sign
    if m.high is not None and m.value > m.high:
        return f"{m.value - m.high:.4g}{sign} above the maximum of {m.high:g}{sign}"
    if m.low is not None and m.value < m.low:
        return f"{m.low - m.value:.4g}{sign} below the minimum of {m.low:g}{sign}"
    return ""


def detail(meta: Mapping[str, Any] | None) -> str:
    """The rest of a measurement's metadata (what the columns above do not show), as compact JSON."""
    rest = {k: v for k, v in (meta or {}).items() if k not in SHOWN}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"), default=str) if rest else ""
