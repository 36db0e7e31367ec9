"""Telemetry: rack-wide samples from every source, and the background sampler that keeps the run's series.

The :class:`TelemetrySampler` polls every source (analyzer, PDUs, BMC power, BMC sensors, cooling,
load) concurrently, each on its own thread at its own period, scheduled against due times so
slow reads do not drift the schedule (missed samples are counted, not hidden). Every sample goes to
the sink (the Recorder: store and OCP) as it is taken; in memory the sampler keeps only the latest
value of each series (the live display) and a window of recent samples (``series()``), in compact
arrays, so a soak of many hours at 1 Hz does not grow the process without bound.

Sources a station lacks are left out rather than invented.
"""

from __future__ import annotations

import logging
import threading
from array import array
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from harness.clock import Clock
from harness.errors import DriverError

if TYPE_CHECKING:
    from harness.config.plan import Telemetry
    from harness.rack import Rack

log = logging.getLogger(__name__)

Reading = tuple[str, str, str | None, float]  # (metric, unit, component, value)


@dataclass(frozen=True)
class Sample:
    t: float
    ac_w: float | None  # the rack's AC input: the analyzer if it sees the whole rack, else the PDU outlets
    pdu_w: float | None  # sum of the declared outlets (SNMP)
    bmc_w: float | None  # sum of the trays' own power readings (Redfish)
    busbar_v: float | None
    load_w: float | None  # electronic load on the busbar
    hottest_c: float | None
    hottest_at: str | None
    outlet_w: dict[str, float] = field(default_factory=dict)


@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)

    def times(self) -> list[float]:
        return [s.t for s in self.samples]

    def values(self, attr: str) -> tuple[list[float], list[float]]:
        pairs = [(s.t, getattr(s, attr)) for s in self.samples if getattr(s, attr) is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]


def is_component_temperature(reading_type: str, name: str, context: str | None) -> bool:
    """Die and ASIC temperatures, not air inlet/room readings."""
    return reading_type == "Temperature" and "inlet" not in name.lower() and context not in ("Intake", "Room")


class RackSampler:
    """One synchronous rack-wide sample (used when no background sampler runs)."""

    def __init__(self, rack: Rack, *, sensors: bool = True) -> None:
        self.rack, self.sensors = rack, sensors

    def sample(self) -> Sample:
        rack = self.rack
        t = rack.clock.now()
        outlets = rack.feeds.powers_w() if rack.feeds.pdus else {}
        pdu_w = sum(outlets.values()) if outlets else None
        ac_w = rack.meter.measure()["W"] if rack.meter_covers_rack and rack.meter else pdu_w
        bmc = rack.tray_powers_w() if rack.trays else {}
        busbar_v = load_w = None
        if rack.load is not None:
            busbar_v, _, load_w = rack.load.measure()
        hottest_c = hottest_at = None
        if self.sensors and rack.trays:
            for tray, readings in rack.tray_sensors().items():
                for r in readings:
                    if r.reading is not None and is_component_temperature(r.reading_type, r.name, r.physical_context):
                        if hottest_c is None or r.reading > hottest_c:
                            hottest_c, hottest_at = r.reading, f"{tray}/{r.name}"
        return Sample(t, ac_w, pdu_w, sum(bmc.values()) if bmc else None, busbar_v, load_w, hottest_c, hottest_at,
                      {o.label: w for o, w in outlets.items()})


class TelemetrySink(Protocol):
    def telemetry(self, metric: str, unit: str, component: str | None, t: float, value: float) -> None: ...


@dataclass
class Source:
    name: str
    period_s: float
    read: Callable[[], list[Reading]]
    due: int = 0
    taken: int = 0
    errors: int = 0


class _Buffer:
    """A compact (times, values) series: two float arrays, 16 bytes a sample."""

    __slots__ = ("unit", "t", "v")

    def __init__(self, unit: str) -> None:
        self.unit, self.t, self.v = unit, array("d"), array("d")


RETAIN_S = 600.0  # simulated seconds of recent samples kept in memory per series (the store keeps them all)


class TelemetrySampler:
    def __init__(self, rack: Rack, clock: Clock, sink: TelemetrySink | None, config: Telemetry, *,
                 retain_s: float = RETAIN_S) -> None:
        self.rack = rack.telemetry_view()  # drivers of its own: never waits on a step's device, nor holds one up
        self.clock, self.sink, self.config = clock, sink, config
        self.retain_s = retain_s
        self.sources = build_sources(self.rack, config)
        self._series: dict[tuple[str, str | None], _Buffer] = {}
        self._latest: dict[tuple[str, str | None], float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stop_at: float | None = None
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        from harness.clock import _pre_registered  # hold the participant slots before the threads run

        self._stop.clear()
        self._stop_at = None
        self._slots = _pre_registered(self.clock, len(self.sources))
        release = self._slots.__enter__()
        for src in self.sources:
            th = threading.Thread(target=self._loop, args=(src, release), name=f"telemetry-{src.name}", daemon=True)
            self._threads.append(th)
            th.start()

    def stop(self) -> None:
        """Stop at the present instant: samples due now are still taken (deterministically, whatever
        the thread order); later ones are cancelled without advancing simulated time."""
        with self._lock:
            self._stop_at = self.clock.now()
        self._stop.set()
        self.clock.wake()
        with self.clock.idle():
            for th in self._threads:
                th.join()
        self._threads.clear()
        self.rack.close()
        if hasattr(self, "_slots"):
            self._slots.__exit__(None, None, None)
            del self._slots

    def _loop(self, src: Source, release: Callable[[], object]) -> None:
        with release():  # type: ignore[attr-defined]
            next_due = self.clock.now()
            while not self._past_stop(next_due):
                src.due += 1
                try:
                    readings = src.read()
                    src.taken += 1
                except DriverError as exc:
                    src.errors += 1
                    log.debug("telemetry %s: %s", src.name, exc)
                    readings = []
                except Exception:  # a bug in a reader must not kill the sampler silently
                    src.errors += 1
                    log.exception("telemetry %s failed", src.name)
                    readings = []
                t = self.clock.now()
                self._store(t, readings)
                next_due += src.period_s
                now = self.clock.now()
                while next_due < now and not self._past_stop(next_due):  # a read overran: count the misses
                    src.due += 1
                    next_due += src.period_s
                if self._past_stop(next_due):
                    break
                self.clock.sleep(next_due - now, cancel=self._stop)
                if self._past_stop(next_due):
                    break

    def _past_stop(self, due: float) -> bool:
        with self._lock:
            return self._stop_at is not None and due > self._stop_at

    def _store(self, t: float, readings: list[Reading]) -> None:
        with self._lock:
            for metric, unit, component, value in readings:
                key = (metric, component)
                buf = self._series.get(key)
                if buf is None:
                    buf = self._series[key] = _Buffer(unit)
                buf.t.append(t)
                buf.v.append(value)
                if buf.t[0] < t - 1.5 * self.retain_s:  # trim in chunks: amortised O(1) per sample
                    cut = bisect_left(buf.t, t - self.retain_s)
                    del buf.t[:cut]
                    del buf.v[:cut]
                self._latest[key] = value
        if self.sink is not None:
            for metric, unit, component, value in readings:
                self.sink.telemetry(metric, unit, component, t, value)

    # ------------------------------------------------------------------ queries
    def series(self, metric: str, component: str | None = None, *, since: float | None = None
               ) -> tuple[list[float], list[float]]:
        """Recent samples of one series: at least the last ``retain_s`` seconds (all of them are in the store)."""
        with self._lock:
            buf = self._series.get((metric, component))
            if buf is None:
                return [], []
            times, values = list(buf.t), list(buf.v)
        if since is not None:
            pairs = [(t, v) for t, v in zip(times, values, strict=True) if t >= since]
            return [p[0] for p in pairs], [p[1] for p in pairs]
        return times, values

    def latest(self) -> dict[str, float | str]:
        """Key live readings for the operator: rack kW, hottest component, coolant dT."""
        with self._lock:
            latest = dict(self._latest)
        out: dict[str, float | str] = {}
        rack_w = latest.get(("rack_ac_power_w", None))
        if rack_w is None:
            rack_w = latest.get(("pdu_total_w", None))
        if rack_w is not None:
            out["rack_kw"] = rack_w / 1000.0
        hottest = [(v, c) for (m, c), v in latest.items() if m == "tray_hottest_c"]
        if hottest:
            value, where = max(hottest, key=lambda h: h[0])
            out["hottest_c"], out["hottest_at"] = value, where or ""
        if ("coolant_dt_c", None) in latest:
            out["coolant_dt_c"] = latest[("coolant_dt_c", None)]
        return out

    def held_samples(self) -> tuple[int, int]:
        """(series, samples) kept in memory now: at most series x (1.5 x ``retain_s``) / period samples."""
        with self._lock:
            return len(self._series), sum(len(b.t) for b in self._series.values())

    def stats(self) -> dict[str, tuple[int, int, int]]:
        """Per source: (samples due, samples taken, errors)."""
        return {s.name: (s.due, s.taken, s.errors) for s in self.sources}


def build_sources(rack: Rack, config: Telemetry) -> list[Source]:
    """One source per kind of device the station has."""
    sources: list[Source] = []
    if rack.meter is not None:
        where = f"{rack.meter_at} inlet" if rack.meter_at else "rack inlet"

        def read_analyzer() -> list[Reading]:
            assert rack.meter is not None
            m = rack.meter.measure()
            out: list[Reading] = [("analyzer_w", "W", where, m["W"]), ("inlet_pf", "", where, m["PF"]),
                                  ("inlet_v", "V", where, m["V"])]
            if rack.meter_covers_rack:
                out.append(("rack_ac_power_w", "W", None, m["W"]))
            return out

        sources.append(Source("analyzer", config.analyzer_s, read_analyzer))
    if rack.feeds.pdus:
        def read_pdus() -> list[Reading]:
            watts = rack.feeds.powers_w()
            out: list[Reading] = [("outlet_w", "W", o.label, w) for o, w in watts.items()]
            shelves: dict[str, float] = {}
            for o, w in watts.items():
                shelf = o.feeds.split(".")[0]
                shelves[shelf] = shelves.get(shelf, 0.0) + w
            out += [("shelf_ac_w", "W", shelf, w) for shelf, w in sorted(shelves.items())]
            out.append(("pdu_total_w", "W", None, sum(watts.values())))
            if not rack.meter_covers_rack:
                out.append(("rack_ac_power_w", "W", None, sum(watts.values())))
            return out

        sources.append(Source("pdus", config.pdus_s, read_pdus))
    if rack.trays:
        def read_power() -> list[Reading]:
            watts = rack.tray_powers_w()
            return [("tray_power_w", "W", t, w) for t, w in watts.items()] + [
                ("trays_dc_w", "W", None, sum(watts.values()))]

        every = max(1, round(config.bmc_sensors_s / config.bmc_power_s))
        count = [0]

        def read_bmcs() -> list[Reading]:
            """Power every period, sensors every ``every``-th: one thread, so the two never wait on
            one BMC client."""
            out = read_power()
            if count[0] % every == 0:
                out += read_sensors()
            count[0] += 1
            return out

        def read_sensors() -> list[Reading]:
            out: list[Reading] = []
            for tray, readings in rack.tray_sensors().items():
                temps = [(r.reading, r.name) for r in readings if r.reading is not None and r.reading == r.reading
                         and is_component_temperature(r.reading_type, r.name, r.physical_context)]
                if temps:
                    value, _ = max(temps)
                    out.append(("tray_hottest_c", "Cel", tray, value))
            return out

        sources.append(Source("bmcs", config.bmc_power_s, read_bmcs))
    if rack.load is not None:
        def read_load() -> list[Reading]:
            assert rack.load is not None
            volts, amps, watts = rack.load.measure()
            return [("busbar_v", "V", None, volts), ("load_w", "W", None, watts)]

        sources.append(Source("eload", config.pdus_s, read_load))
    if rack.equipment.has_cooling():
        def read_cooling() -> list[Reading]:
            c = rack.equipment.coolant()
            out: list[Reading] = []
            for key, unit in (("supply_c", "Cel"), ("return_c", "Cel"), ("flow_lpm", "L/min")):
                if c.get(key) is not None:
                    out.append((f"coolant_{key}", unit, None, float(c[key])))  # type: ignore[arg-type]
            if c.get("supply_c") is not None and c.get("return_c") is not None:
                out.append(("coolant_dt_c", "Cel", None, float(c["return_c"]) - float(c["supply_c"])))  # type: ignore[arg-type]
            return out

        sources.append(Source("cooling", config.cooling_s, read_cooling))
    return sources
