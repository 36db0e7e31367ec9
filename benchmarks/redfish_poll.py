"""Full-rack Redfish sensor sweeps per second: the harness client vs a plain `redfish` loop.

    python benchmarks/redfish_poll.py [--profile nvl72] [--seconds 10] [--in-process] [--tls]

Serves the profile's simulated BMCs (beside this process by default, ``--in-process`` to share it),
then for ``--seconds`` each:

* harness: one :class:`BmcClient` per tray BMC, all trays read concurrently (``run_parallel``, as
  ``Rack.tray_sensors`` does), each read using ``$expand`` when the service declares it;
* plain: one ``redfish.redfish_client`` per BMC, logged in once, and a sequential loop over the trays
  that GETs the Sensors collection and then every sensor, as a straightforward script would.

A sweep is every sensor of every tray once. Prints sweeps/s for both and their ratio. The harness
must keep a full nvl72 sweep at >= 1 Hz.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import redfish

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.clock import RealClock, monotonic, run_parallel
from harness.drivers.redfish.client import BmcClient

USER, PASSWORD = "bench", "bench-secret-1"
SERVE = """
import json, sys, threading
from harness.clock import RealClock
from harness.config.profile import load_profile
from harness.sim.redfish.server import RedfishFleet
from harness.sim.physics import RackTwin
twin = RackTwin(load_profile(sys.argv[1]), RealClock()); twin.start_powered()
fleet = RedfishFleet(twin, username=sys.argv[2], password=sys.argv[3], tls=sys.argv[4] == "1")
eps = fleet.start()
print(json.dumps({"eps": eps, "roles": fleet.roles, "ca": fleet.ca_file}), flush=True)
sys.stdin.read()
fleet.stop()
"""


def serve(profile: str, tls: bool, in_process: bool) -> tuple[dict[str, str], str | None, Callable[[], None]]:
    """Start the fleet; returns tray endpoints, CA file and a stop function."""
    if in_process:
        from harness.config.profile import load_profile
        from harness.sim.physics import RackTwin
        from harness.sim.redfish.server import RedfishFleet

        twin = RackTwin(load_profile(profile), RealClock())
        twin.start_powered()
        fleet = RedfishFleet(twin, username=USER, password=PASSWORD, tls=tls)
        eps = fleet.start()
        trays = {n: u for n, u in eps.items() if fleet.roles[n] in ("compute_tray", "switch_tray")}
        return trays, fleet.ca_file, fleet.stop
    proc = subprocess.Popen([sys.executable, "-c", SERVE, profile, USER, PASSWORD, "1" if tls else "0"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stdin is not None
    info = json.loads(proc.stdout.readline())
    trays = {n: u for n, u in info["eps"].items() if info["roles"][n] in ("compute_tray", "switch_tray")}

    def stop() -> None:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
    return trays, info["ca"], stop


def rate(sweep: Callable[[], int], seconds: float) -> tuple[float, int]:
    """Sweeps per second over ``seconds`` of wall time, and sensors per sweep."""
    n_sensors = sweep()  # warm-up: logins, discovery
    t0, n = monotonic(), 0
    while monotonic() - t0 < seconds:
        sweep()
        n += 1
    return n / (monotonic() - t0), n_sensors


def harness_sweep(trays: dict[str, str], ca: str | None) -> tuple[Callable[[], int], Callable[[], None]]:
    clock = RealClock()
    clients = {n: BmcClient(n, u, USER, PASSWORD, clock=clock, ca_file=ca, timeout_s=10) for n, u in trays.items()}
    names = list(clients)

    def sweep() -> int:
        readings = run_parallel(clock, [lambda n=n: clients[n].sensors() for n in names], max_workers=len(names))
        return sum(len(r) for r in readings)

    def close() -> None:
        for c in clients.values():
            c.close()
    return sweep, close


def plain_sweep(trays: dict[str, str], ca: str | None) -> tuple[Callable[[], int], Callable[[], None]]:
    clients = []
    for url in trays.values():
        c = redfish.redfish_client(base_url=url, username=USER, password=PASSWORD, timeout=10, max_retry=0,
                                   cafile=ca)
        c.login(auth="session")
        chassis = c.get("/redfish/v1/Chassis").dict["Members"][0]["@odata.id"]
        clients.append((c, c.get(chassis).dict["Sensors"]["@odata.id"]))

    def sweep() -> int:
        count = 0
        for c, sensors_uri in clients:
            for m in c.get(sensors_uri).dict["Members"]:
                if c.get(m["@odata.id"]).dict.get("Reading") is not None:
                    count += 1
        return count

    def close() -> None:
        for c, _ in clients:
            c.logout()
    return sweep, close


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="nvl72")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--in-process", action="store_true", help="serve the simulator in this process")
    ap.add_argument("--tls", action="store_true", help="serve HTTPS with a per-run CA (verified)")
    args = ap.parse_args()
    trays, ca, stop = serve(args.profile, args.tls, args.in_process)
    try:
        sweep, close = harness_sweep(trays, ca)
        h_rate, h_sensors = rate(sweep, args.seconds)
        close()
        sweep, close = plain_sweep(trays, ca)
        p_rate, p_sensors = rate(sweep, args.seconds)
        close()
    finally:
        stop()
    where = "in-process" if args.in_process else "beside (subprocess)"
    print(f"profile {args.profile}: {len(trays)} tray BMCs, simulator {where}, {'https' if args.tls else 'http'}, "
          f"{os.cpu_count()} CPUs")
    print(f"harness (concurrent BmcClient, $expand): {h_rate:7.2f} sweeps/s  ({h_sensors} sensors/sweep)")
    print(f"plain   (sequential redfish loop)      : {p_rate:7.2f} sweeps/s  ({p_sensors} sensors/sweep)")
    print(f"ratio harness/plain: {h_rate / p_rate:5.1f} x   full sweep at >= 1 Hz: {'yes' if h_rate >= 1 else 'NO'}")


if __name__ == "__main__":
    main()
