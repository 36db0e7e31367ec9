"""The report's measurements section: per step, each check either row by row (a few rows, or any row that
failed) or as one summary line (how many, the range, the extreme and where it was, the verdicts).

An nvl72 L11 run takes about 4,000 measurements (1,100 in ten AC cycles of 27 trays alone); row by row they
made a 660 KB page nobody reads. The summary keeps what a partner looks for (is anything near its limit,
and where) and every failure; every value of every attempt stays in the store and in
``rackval results export RUN_ID --format csv``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from harness.results.store import MeasurementRow
from harness.results.wording import measured

ROWS_SHOWN = 8  # a check with at most this many rows is shown row by row


@dataclass(frozen=True)
class CheckSummary:
    """Many rows of one check in one step, as one line."""

    name: str
    count: int
    where: str  # "max at compute07"
    values: str  # "61.2 … 178", "27 × True"
    unit: str
    sample: MeasurementRow  # a row of the check, for its limit
    verdicts: str  # "270 PASS", "268 PASS, 2 FAIL"


@dataclass(frozen=True)
class StepMeasurements:
    failures: list[MeasurementRow]
    rows: list[MeasurementRow]  # shown one by one (checks with few rows)
    summaries: list[CheckSummary]


def _summary(name: str, rows: list[MeasurementRow]) -> CheckSummary:
    counts = Counter(m.verdict for m in rows)
    verdicts = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
    numbers = [m for m in rows if m.value_text is None and m.value is not None]
    sample = rows[0]
    if len(numbers) == len(rows):
        lo = min(numbers, key=lambda m: m.value or 0.0)
        hi = max(numbers, key=lambda m: m.value or 0.0)
        extreme = lo if sample.low is not None and sample.high is None else hi
        where = f"{'min' if extreme is lo else 'max'} at {extreme.component}" if extreme.component else ""
        return CheckSummary(name, len(rows), where, f"{measured(lo)} … {measured(hi)}", sample.unit, extreme,
                            verdicts)
    texts = Counter(measured(m) for m in rows)
    values = ", ".join(f"{n} × {t}" for t, n in texts.most_common(3)) + (" …" if len(texts) > 3 else "")
    return CheckSummary(name, len(rows), "", values, "", sample, verdicts)


def step_measurements(rows: list[MeasurementRow]) -> StepMeasurements:
    """One step's measurements (its last attempt's) as the section shows them."""
    by_check: dict[str, list[MeasurementRow]] = {}
    for m in rows:
        by_check.setdefault(m.name, []).append(m)
    shown: list[MeasurementRow] = []
    summaries = []
    for name, checks in by_check.items():
        if len(checks) <= ROWS_SHOWN:
            shown += [m for m in checks if m.verdict != "FAIL"]
        else:
            summaries.append(_summary(name, checks))
    return StepMeasurements([m for m in rows if m.verdict == "FAIL"], shown, summaries)
