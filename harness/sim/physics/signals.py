"""The noise-free curves a BMC's threshold watch judges, handed over at every state change.

:func:`exact_signals` says how each watched quantity follows a source (fixed for the rack);
:func:`exact_sources` is each source's curve from the last state change on, as parameters
(:func:`harness.sim.physics.curves.source_curve` turns them back into a function). With both, a
watch finds exactly when a value crossed a threshold between two changes, whoever reads the twin when.
"""

from __future__ import annotations

from harness.sim.physics.thermal import Thermal

Signal = tuple[str, float, float]  # (source, ref, gain): value = ref + gain * (source - ref)


def exact_signals(thermal: Thermal) -> dict[str, Signal]:
    """Keys: ``<tray>/gpu<n>``, ``<tray>/asic``, ``<tray>/inlet``, ``<tray>/power``, ``coolant/supply_c``,
    ``coolant/return_c``. Sensor faults (stuck, NaN) are not in it: they are not the physics."""
    th = thermal.params
    out: dict[str, Signal] = {}
    for name, tr in thermal.trays.items():
        ref = th.air_inlet_c if tr.spec.fans else th.coolant_supply_c
        for g in range(tr.spec.gpus):
            out[f"{name}/gpu{g}"] = (f"{name}/temp", ref, 1.0 - 0.02 * g)  # as Readings.tray_temperatures_c
        if not tr.spec.gpus:
            out[f"{name}/asic"] = (f"{name}/temp", ref, 1.0)
        out[f"{name}/inlet"] = ("air_inlet", 0.0, 1.0)
        out[f"{name}/power"] = (f"{name}/power", 0.0, 1.0)
    out["coolant/supply_c"] = ("coolant/supply", 0.0, 1.0)
    out["coolant/return_c"] = ("coolant/return", 0.0, 1.0)
    return out


def exact_sources(thermal: Thermal) -> dict[str, tuple[object, ...]]:
    """The noise-free curve of each source from the last state change until the next one. A snapshot;
    the caller holds the scheduler's lock."""
    th = thermal.params
    out: dict[str, tuple[object, ...]] = {"air_inlet": ("const", th.air_inlet_c)}
    for name, tr in thermal.trays.items():
        lag = tr.temp
        out[f"{name}/temp"] = ("lag", lag.t0, lag.v0, lag.target, lag.tau)
        out[f"{name}/power"] = ("const", thermal.electrical.tray_power_w(tr))
    rate = thermal.cdu.supply_rise_c_per_min_no_flow / 60.0 if thermal.cdu else 0.0
    ramp = (th.coolant_supply_c, rate, thermal.no_flow_since)
    r = thermal.coolant_return
    out["coolant/supply"] = ("ramp", *ramp)
    out["coolant/return"] = ("ramp_lag", *ramp, r.t0, r.v0, r.target, r.tau)
    return out
