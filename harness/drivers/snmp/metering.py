"""What a PDU meters (outlets, phases, inlet), and how one batched pass over all of it is laid out.

The :class:`~harness.drivers.snmp.pdu.Pdu` sends the GETs; this module decides which varbinds make up
a full metering pass (only the objects the vendor map has) and turns the decoded values back into
meters, so the layout of the pass is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from harness.drivers.snmp.codec import Item
from harness.drivers.snmp.mib_objects import ObjectSpec
from harness.drivers.snmp.vendor_map import VendorMap


@dataclass(frozen=True)
class OutletMeter:
    current_a: float
    power_w: float
    energy_kwh: float | None


@dataclass(frozen=True)
class PhaseMeter:
    current_a: float
    voltage_v: float | None
    power_w: float | None


@dataclass(frozen=True)
class InletMeter:
    power_w: float
    energy_kwh: float | None
    current_a: float | None


@dataclass(frozen=True)
class PduMetering:
    """Everything the PDU meters, read in one batched pass."""

    outlets: dict[int, OutletMeter]
    phases: dict[int, PhaseMeter]
    inlet: InletMeter
    requests: int  # SNMP requests the read took (GETs and GETBULKs)


#: (kind, index, key) of one value of a metering pass: ("outlet", 3, "power_w"), ("inlet", 0, "energy_kwh")
Key = tuple[str, int, str]
MakeItem = Callable[..., Item]  # AgentLink.item(label, spec, **index)


def metering_items(vmap: VendorMap, outlets: Sequence[int], phases: Sequence[int],
                   make_item: MakeItem) -> tuple[list[Item], list[Key]]:
    """The varbinds of a full pass (outlet current/power/energy, phase current/voltage/power, inlet
    power/energy/current, each only where the map has it) and what each one is."""
    o, d = vmap.outlet, vmap.device
    items: list[Item] = []
    keys: list[Key] = []

    def add(kind: str, idx: int, specs: Iterable[tuple[str, ObjectSpec | None]], label: str, **index: int) -> None:
        for key, spec in specs:
            if spec is not None:
                items.append(make_item(f"{label}{key}", spec, **index))
                keys.append((kind, idx, key))

    for n in outlets:
        add("outlet", n, (("current_a", o.current_a), ("power_w", o.power_w), ("energy_kwh", o.energy_kwh)),
            f"outlet {n} ", outlet=n)
    for p in phases:
        add("phase", p, (("current_a", d.phase_current_a), ("voltage_v", d.phase_voltage_v),
                         ("power_w", d.phase_power_w)), f"phase {p} ", phase=p)
    add("inlet", 0, (("power_w", d.power_w), ("energy_kwh", d.energy_kwh), ("current_a", d.current_a)), "inlet ")
    return items, keys


def assemble(keys: Sequence[Key], values: Iterable[object], outlets: Sequence[int], phases: Sequence[int],
             requests: int) -> PduMetering:
    """Decoded values of a pass (in :func:`metering_items` order) -> the meters."""
    got: dict[tuple[str, int], dict[str, float]] = {}
    for (kind, idx, key), value in zip(keys, values, strict=True):
        got.setdefault((kind, idx), {})[key] = float(value)  # type: ignore[arg-type]
    outlet_m = {n: OutletMeter(got[("outlet", n)]["current_a"], got[("outlet", n)]["power_w"],
                               got[("outlet", n)].get("energy_kwh")) for n in outlets}
    phase_m = {p: PhaseMeter(got[("phase", p)]["current_a"], got[("phase", p)].get("voltage_v"),
                             got[("phase", p)].get("power_w")) for p in phases}
    inlet = got[("inlet", 0)]
    return PduMetering(outlet_m, phase_m, InletMeter(inlet["power_w"], inlet.get("energy_kwh"),
                                                     inlet.get("current_a")), requests)
