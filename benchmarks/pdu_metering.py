"""PDU metering: all metering of one 48-outlet PDU read batched vs one OID per request.

    python benchmarks/pdu_metering.py [--vendor apc_rpdu2] [--rounds 5]

A 48-outlet, 3-phase PDU is made in memory from the nvl72 profile (no fixture is a 48-outlet SKU), served
by the simulated agent on 127.0.0.1 and read by the real driver: every outlet's current, power and
energy, every phase's current/voltage/power, and the inlet. Prints the best-of-N wall time of each way
and their ratio.
"""

from __future__ import annotations

import argparse
import platform

from harness.clock import VirtualClock, monotonic
from harness.config.profile import load_profile
from harness.drivers.snmp.engine import close_shared_loop
from harness.drivers.snmp.pdu import Pdu, SnmpCredentials
from harness.sim.physics import RackTwin, physics_for
from harness.sim.snmp.agent import PduAgent

OUTLETS = 48


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vendor", default="apc_rpdu2")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    base = load_profile("nvl72")
    spec = base.pdus[0]
    feeds = {n: f"shelf{(n - 1) // 6 + 1}.psu{(n - 1) % 6 + 1}" for n in range(1, OUTLETS + 1)}
    big = spec.model_copy(update={"name": "pdu48", "outlets": OUTLETS, "vendor": args.vendor, "feeds": feeds})
    profile = base.model_copy(update={"pdus": [big]})
    physics = physics_for(base).model_copy(update={"pdus": {}})  # pdu48: default supply, no breakers
    clock = VirtualClock()
    twin = RackTwin(profile, clock, physics=physics)
    twin.start_powered()
    creds = SnmpCredentials("2c", community="private")
    with PduAgent(twin, "pdu48") as agent:
        pdu = Pdu("pdu48", "127.0.0.1", agent.port, vendor=args.vendor, credentials=creds, clock=clock,
                  timeout_s=2.0, max_in_flight=1)  # one request at a time: batching alone is measured
        pdu.metering()  # counts, digits and the v2c path warmed up
        timings: dict[str, list[float]] = {"batched": [], "single": []}
        requests: dict[str, int] = {}
        for _ in range(args.rounds):
            for mode, chunk in (("batched", None), ("single", 1)):
                t0 = monotonic()
                m = pdu.metering(max_varbinds=chunk)
                timings[mode].append(monotonic() - t0)
                requests[mode] = m.requests
        pdu.close()
    close_shared_loop()
    batched, single = min(timings["batched"]), min(timings["single"])
    print(f"{OUTLETS}-outlet {args.vendor} PDU, {requests['single']} metering values, best of {args.rounds}")
    print(f"batched     {batched * 1000:8.1f} ms  ({requests['batched']} requests)")
    print(f"one OID/req {single * 1000:8.1f} ms  ({requests['single']} requests)")
    print(f"ratio       {single / batched:8.1f} x faster batched")
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")


if __name__ == "__main__":
    main()
