"""`rackval run --all-racks`: every rack of a multi-rack station file at once, one process per rack.

Each child is an ordinary ``rackval run --station FILE --rack NAME`` with its own run directory and OCP
stream; instruments the racks share are locked per resource inside the runs (harness.locks, whose
journal names each rack: ``RACKVAL_RACK`` is set per child). The children inherit this environment
(``PYTHONPATH``, credentials). The store is migrated once here first, so they never race to create it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from harness.config.station import load_station
from harness.results.store import default_store_url, open_store


def run_all_racks(plan: Path, station_path: Path, *, out: Path | None, store: str | None, operator: str,
                  yes: bool, console: Console, err: Console) -> int:
    """Exit code: the worst of the racks' (3 > 2 > 1 > 0)."""
    station = load_station(station_path)
    if not station.racks:
        err.print(f"{station_path}: racks: the station lists no racks; --all-racks needs several")
        return 2
    missing = [r.name for r in station.racks if not r.serial]
    if missing:
        err.print(f"{station_path}: racks: give each rack its serial for --all-racks (missing: {', '.join(missing)})")
        return 2
    store_url = store or default_store_url()
    open_store(store_url).dispose()
    procs: list[tuple[str, subprocess.Popen[str], Path]] = []
    for r in station.racks:
        log = (out or Path.cwd() / "runs") / f"{r.name}.console.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "harness.cli", "run", str(plan), "--station", str(station_path), "--rack", r.name,
               "--rack-serial", r.serial or "", "--operator", operator, "--store", store_url]
        cmd += ["--out", str(out / r.name)] if out else []
        cmd += ["--yes"] if yes else []
        with log.open("w", encoding="utf-8") as fh:
            procs.append((r.name, subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, text=True,
                                                   stdin=subprocess.DEVNULL, env={**os.environ, "RACKVAL_RACK": r.name}),
                          log))
        console.print(f"rack {r.name} ({r.serial}): started, console in {log}", highlight=False)
    worst = 0
    try:
        for name, proc, log in procs:
            rc = proc.wait()
            worst = max(worst, rc)
            last = [ln for ln in log.read_text(encoding="utf-8").splitlines() if ln.strip()][-1:]
            console.print(f"rack {name}: exit {rc}  {last[0] if last else ''}", highlight=False)
    except KeyboardInterrupt:  # the children got the same Ctrl-C (one process group): let them finish safely
        for _, proc, _ in procs:
            proc.wait()
        return 3
    return worst
