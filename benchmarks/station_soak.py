"""Station soak: several simulated racks sampled by the harness's telemetry sampler.

    python benchmarks/station_soak.py [--racks 4] [--hours 0.05] [--rate 1] [--profile nvl72]
                                      [--clock real|virtual] [--speed 1] [--window 60] [--tracemalloc]

Every source of every rack (analyzer and electronic load over SCPI, PDU outlets over SNMPv3, BMC power
and sensors over Redfish, the CDU over Redfish) is read by one :class:`TelemetrySampler` per rack, each
source every ``1/rate`` simulated seconds, into a sink that only counts (the store's write cost is not
included). Prints samples taken against samples due per source kind and in total, peak memory, and
memory growth per simulated hour (RSS sampled 40 times: last quarter against first, and again over
the part of the run after the samplers' in-memory windows are full).

The issue's figure is 4 nvl72 racks at 1 Hz for a simulated hour (``--hours 1``). No clock gives that in
minutes on a 2-core machine, so the default is a 3-minute slice of it, in real time:

* ``real`` (default, ``--speed 1``): each rack's simulators run in their own ``rackval sim`` process, as
  a simulated station does, and the harness samples on a ``RealClock``: samples due and taken are the
  real-time figure, on a machine that also hosts every simulated BMC, PDU and instrument (the
  simulators' CPU is printed beside the harness's). ``--speed S`` compresses time; the harness and the
  simulators are then asked for S times the real-time load, and what they miss is counted as missed.
* ``virtual``: simulators in this process on one ``VirtualClock``; a read freezes simulated time, so
  the figure is harness correctness under load (schedule kept, nothing lost or duplicated, bounded
  memory). Requests still time out in real time, so a starved in-process simulator shows as errors.

Memory: the sampler keeps a window of recent samples per series (``retain_s``, 600 s in a run) and
sends every sample to the sink. ``--window`` sets it for the benchmark (default 60 s, so that a
3-minute run fills the window and shows the plateau); the bound for the run's window is printed too.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.clock import Clock, RealClock, VirtualClock, monotonic
from harness.config.plan import Telemetry
from harness.config.profile import Profile, load_profile
from harness.config.station import Credentials, Station, load_station
from harness.rack import Rack
from harness.telemetry import TelemetrySampler

RSS_POINTS = 40
BYTES_PER_SAMPLE = 16  # two float64 arrays (telemetry._Buffer)


def samples_due(duration_s: float, period_s: float) -> int:
    """Samples a schedule starting at t=0 owes over [0, duration_s], both ends included."""
    return math.floor(duration_s / period_s + 1e-9) + 1


def growth_per_hour(points: list[tuple[float, float]]) -> float:
    """(t in simulated s, MiB) samples -> MiB per simulated hour: mean of the last quarter minus the mean of
    the first, over the time between the two quarters' centres."""
    n = len(points)
    q = max(1, n // 4)
    first, last = points[:q], points[-q:]
    t0, t1 = sum(p[0] for p in first) / q, sum(p[0] for p in last) / q
    if t1 <= t0:
        return 0.0
    return (sum(p[1] for p in last) / q - sum(p[1] for p in first) / q) / ((t1 - t0) / 3600.0)


def steady_growth_per_hour(points: list[tuple[float, float]], window_s: float) -> float | None:
    """Growth over the part of the run after the windows are full (t >= 1.5 x window: trimming is chunked)."""
    steady = [p for p in points if p[0] >= 1.5 * window_s]
    return growth_per_hour(steady) if len(steady) >= 8 else None


def rss_mb() -> float:
    """Resident set size of this process now (Linux /proc), in MiB (as ru_maxrss / 1024)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class CountingSink:
    """The sampler's sink: counts readings (one thread per source writes; += on an int is enough here)."""

    def __init__(self) -> None:
        self.readings = 0

    def telemetry(self, metric: str, unit: str, component: str | None, t: float, value: float) -> None:
        self.readings += 1


@dataclass
class Served:
    stations: list[Station]
    credentials: list[Credentials]
    stop: Callable[[], None]


def serve_processes(profile: str, racks: int, speed: float, work: Path) -> Served:
    """One ``rackval sim`` process per rack; returns once every station file is written."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs, files = [], []
    for i in range(racks):
        path = work / f"rack{i + 1}.yaml"
        files.append(path)
        procs.append(subprocess.Popen([sys.executable, "-m", "harness.cli", "sim", "--profile", profile, "--speed",
                                       str(speed), "--seed", str(i + 1), "--rack-serial", f"SOAK-{i + 1}",
                                       "--station-out", str(path)], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))

    def stop() -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    t0 = monotonic()
    try:
        for path, proc in zip(files, procs, strict=True):
            while not (path.exists() and "bmcs" in path.read_text()):
                if proc.poll() is not None or monotonic() - t0 > 300:
                    raise RuntimeError(f"rackval sim for {path.name} did not start: "
                                       f"{proc.stderr.read() if proc.stderr else ''}")
                RealClock().sleep(0.1)
        RealClock().sleep(0.3)  # the station file is written in one go, but give the write time to finish
    except BaseException:
        stop()
        raise
    stations = [load_station(f) for f in files]
    return Served(stations, [Credentials(s) for s in stations], stop)


def serve_in_process(profile: Profile, racks: int, clock: Clock) -> Served:
    from harness.sim.station import SimStation

    sims = []
    for i in range(racks):
        sim = SimStation(profile, clock=clock, seed=i + 1, rack_serial=f"SOAK-{i + 1}")
        sims.append(sim)
        sim.start()

    def stop() -> None:
        for s in sims:
            s.stop()
    return Served([s.station for s in sims], [s.credentials() for s in sims], stop)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--racks", type=int, default=4)
    ap.add_argument("--hours", type=float, default=0.05, help="simulated hours (the issue's figure: 1)")
    ap.add_argument("--rate", type=float, default=1.0, help="samples per simulated second, every source")
    ap.add_argument("--profile", default="nvl72")
    ap.add_argument("--clock", choices=("real", "virtual"), default="real")
    ap.add_argument("--speed", type=float, default=1.0, help="real clock: simulated seconds per real second")
    ap.add_argument("--window", type=float, default=60.0, help="samplers' in-memory window (s); runs use 600")
    ap.add_argument("--tracemalloc", action="store_true", help="also trace the Python heap (slows the harness)")
    args = ap.parse_args()
    duration = args.hours * 3600.0
    period = 1.0 / args.rate
    profile = load_profile(args.profile)
    load_before = os.getloadavg()
    wall0 = monotonic()
    clock: Clock = VirtualClock() if args.clock == "virtual" else RealClock(args.speed)
    with tempfile.TemporaryDirectory(prefix="rackval-soak-") as tmp:
        served = (serve_in_process(profile, args.racks, clock) if args.clock == "virtual"
                  else serve_processes(args.profile, args.racks, args.speed, Path(tmp)))
        try:
            racks = [Rack(st, profile, cr, clock) for st, cr in zip(served.stations, served.credentials, strict=True)]
            for rack in racks:
                rack.connect()
            config = Telemetry(analyzer_s=period, pdus_s=period, bmc_power_s=period, bmc_sensors_s=period,
                               cooling_s=period)
            sink = CountingSink()
            samplers = [TelemetrySampler(rack, clock, sink, config, retain_s=args.window) for rack in racks]
            startup = monotonic() - wall0
            if args.tracemalloc:
                tracemalloc.start()
            rss: list[tuple[float, float]] = []
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            t_start = clock.now()
            w_start = monotonic()
            for s in samplers:
                s.start()
            step = duration / RSS_POINTS
            for k in range(1, RSS_POINTS + 1):
                clock.sleep(t_start + k * step - clock.now())
                rss.append((clock.now() - t_start, rss_mb()))
            windows = []  # each sampler's own [start, stop]: samplers are stopped one after another
            for s in samplers:
                windows.append(clock.now() - t_start)
                s.stop()
            simulated = clock.now() - t_start
            sampling_wall = monotonic() - w_start
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            heap = tracemalloc.get_traced_memory() if args.tracemalloc else None
            held = (sum(s.held_samples()[0] for s in samplers), sum(s.held_samples()[1] for s in samplers))
            for rack in racks:
                rack.close()
        finally:
            served.stop()
    wall = monotonic() - wall0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    report(args, profile, samplers, sink, rss, heap, held, windows, simulated, sampling_wall, wall, startup,
           cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime,
           children.ru_utime + children.ru_stime, load_before)


def report(args: argparse.Namespace, profile: Profile, samplers: list[TelemetrySampler], sink: CountingSink,
           rss: list[tuple[float, float]], heap: tuple[int, int] | None, held: tuple[int, int], windows: list[float],
           simulated: float,
           sampling_wall: float, wall: float, startup: float, cpu: float, children_cpu: float,
           load_before: tuple[float, float, float]) -> None:
    kinds: dict[str, list[int]] = {}
    for s in samplers:
        for kind, (due, taken, errors) in s.stats().items():
            row = kinds.setdefault(kind, [0, 0, 0])
            row[0], row[1], row[2] = row[0] + due, row[1] + taken, row[2] + errors
    due_total = sum(r[0] for r in kinds.values())
    taken_total = sum(r[1] for r in kinds.values())
    schedule = sum(samples_due(w, 1.0 / args.rate) for w in windows)  # per source kind, all racks
    clock_text = ("VirtualClock (simulators in this process; a read freezes simulated time: every due sample "
                  "can be taken, the figure is correctness under load)" if args.clock == "virtual" else
                  f"RealClock x{args.speed:g} (each rack's simulators in a `rackval sim --speed {args.speed:g}` "
                  f"process, all on this machine)" + ("" if args.speed == 1 else
                                                      f": harness and simulators get {args.speed:g}x the real-time load"))
    print(f"{args.racks} x {profile.sku} racks, every source at {args.rate:g} Hz, {simulated / 3600:.3f} simulated h")
    print(f"clock: {clock_text}")
    print(f"{'source':<10}{'due':>10}{'taken':>10}{'taken %':>9}{'errors':>8}   (summed over racks)")
    for kind, (due, taken, errors) in kinds.items():
        print(f"{kind:<10}{due:>10}{taken:>10}{100 * taken / due if due else 0:>8.1f}%{errors:>8}")
    print(f"{'total':<10}{due_total:>10}{taken_total:>10}{100 * taken_total / due_total if due_total else 0:>8.1f}%"
          f"{sum(r[2] for r in kinds.values()):>8}")
    print(f"schedule check: {schedule} due per source kind by the clock (each rack from its start to its stop; "
          f"a real clock may differ by one at either end), the samplers counted "
          f"{', '.join(f'{k} {v[0]}' for k, v in kinds.items())}")
    print(f"readings delivered to the sink: {sink.readings}  ({sink.readings / max(taken_total, 1):.1f} per sample)")
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: harness process {peak_self:.1f} MiB"
          + (f", largest simulator process {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f} MiB"
             if args.clock == "real" else " (simulators included: same process)"))
    if heap is not None:
        print(f"Python heap (tracemalloc): {heap[0] / 1e6:.1f} MiB at the end, peak {heap[1] / 1e6:.1f} MiB")
    q = max(1, len(rss) // 4)
    print(f"RSS over simulated time: first quarter {sum(p[1] for p in rss[:q]) / q:.1f} MiB, last quarter "
          f"{sum(p[1] for p in rss[-q:]) / q:.1f} MiB, min {min(p[1] for p in rss):.1f}, max "
          f"{max(p[1] for p in rss):.1f}")
    steady = steady_growth_per_hour(rss, args.window)
    print(f"memory growth: {growth_per_hour(rss):+.2f} MiB per simulated hour (last quarter against first); "
          + (f"{steady:+.2f} MiB per simulated hour once the windows are full (t >= {1.5 * args.window:g} s)"
             if steady is not None else "run shorter than 1.5 x the window: no steady part to measure"))
    series, samples = held
    bound = series * 1.5 * 600.0 * args.rate * BYTES_PER_SAMPLE / 2**20
    print(f"samplers' memory: {samples} samples of {series} series held at the end (window {args.window:g} s); "
          f"bound with a run's 600 s window: {series} x 900 s x {args.rate:g} Hz x {BYTES_PER_SAMPLE} B = "
          f"{bound:.1f} MiB")
    print(f"wall: {wall:.1f} s total, {sampling_wall:.1f} s sampling, {startup:.1f} s start-up; harness CPU "
          f"{cpu:.1f} s ({cpu / sampling_wall:.2f} of a core while sampling)"
          + (f", simulators CPU {children_cpu:.1f} s (all {len(samplers)} processes, start-up included)"
             if args.clock == "real" else ""))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}; load average before the run {load_before[0]:.2f}")


if __name__ == "__main__":
    main()
