"""Digest of a run's measurement records (step, name, component, value, verdict) from its OCP stream.

Why: a refactoring must not change what a run measures; two runs of the same plan and seed on the
virtual clock must give the same digest before and after.

    rackval run test_plans/nvl72_l11.yaml --sim --seed 7 --rack-serial SIM-0001 --operator op1 --yes --out /tmp/a
    python benchmarks/record_digest.py /tmp/a/ocp.jsonl [/tmp/b/ocp.jsonl ...]   # exit 1 if they differ

Digests of seed 7 (rack serial SIM-0001) on main before the reshape (commit 285ca13), kept so a
later change can be compared without checking the old code out:
    nvl72_l11     f4c04874dfb76a57583ba91028b45ef2ba7f363369e1eb4f304693dc25d6a9a0  4120 records
    hgx8_air_l11  b54f084c2ca2a31ae4ffdeb1b5fa8b0bcc14ff7020db3a4878ed36fc657a1bc2   841 records
    mini_smoke    0c7ad152653430f2e28ab30fd0bdb4c557670ed342991f6115874dd32b1c7d63   113 records
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path


def measurement_records(ocp_path: Path) -> list[tuple[str, str, str, str, str]]:
    """(step, name, component, value, verdict) of every measurement, in stream order."""
    step_names: dict[str, str] = {}
    records = []
    for line in ocp_path.read_text().splitlines():
        rec = json.loads(line)
        art = rec.get("testStepArtifact")
        if not art:
            continue
        if "testStepStart" in art:
            step_names[art["testStepId"]] = art["testStepStart"]["name"]
        meas = art.get("measurement")
        if meas is None:
            continue
        meta = meas.get("metadata") or {}
        value = meas["value"]
        records.append((step_names.get(art["testStepId"], art["testStepId"]), meas["name"],
                        str(meta.get("component", "")), json.dumps(value), str(meta.get("verdict", ""))))
    return records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ocp", type=Path, nargs="+", help="ocp.jsonl of one or more runs")
    ap.add_argument("--dump", action="store_true", help="print every record, not only the digest")
    args = ap.parse_args(argv)
    digests = set()
    for path in args.ocp:
        recs = measurement_records(path)
        if args.dump:
            for r in recs:
                print("\t".join(r))
        digest = hashlib.sha256("\n".join("\t".join(r) for r in recs).encode()).hexdigest()
        digests.add(digest)
        print(f"{digest}  {len(recs)} records  {path}")
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
