"""Pdu: switched and metered rack PDU over SNMP, vendor-neutral (the OIDs come from a vendor map).

Rules this driver keeps, and why:

* A power SET goes out once per send (:meth:`AgentLink.set_once`, ``retries=0``): pysnmp re-sends a
  SET on every retry and the agent executes each copy. Whether or not the SET was answered, the outlet
  state is read back (:func:`~harness.clock.wait_until` on the run's clock) until it matches; if it
  never does, :class:`PowerActionUncertain`. An on/off SET is sent again only when it got no answer and
  every read-back showed the old state (it was lost, not executed; on/off is a target state, so a late
  copy is harmless); a reboot never is.
* Cycle (reboot) is not idempotent: the pending-command column is read first, the SET goes once,
  and the off-then-on is confirmed by reading back.
* Reads are batched and strict (``agent_link.py``, ``codec.py``): a value of the wrong type, out of
  range or 'not supported' is an error naming the PDU, the request and the OID, never a number.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from pysnmp.hlapi.v3arch.asyncio import Integer32

from harness.clock import Clock, RealClock, wait_until
from harness.drivers.snmp.agent_link import AgentLink
from harness.drivers.snmp.codec import Item
from harness.drivers.snmp.credentials import SnmpCredentials
from harness.drivers.snmp.engine import SnmpLoop
from harness.drivers.snmp.metering import InletMeter, OutletMeter, PduMetering, PhaseMeter, assemble, metering_items
from harness.drivers.snmp.mib_objects import ObjectSpec
from harness.drivers.snmp.vendor_map import VendorMap, load_vendor_map
from harness.errors import PowerActionUncertain, SnmpError

__all__ = ["InletMeter", "OutletMeter", "Pdu", "PduMetering", "PhaseMeter", "SnmpCredentials"]

log = logging.getLogger(__name__)


@dataclass
class _ReadBack:
    """What the read-backs of one confirmation window showed: the last one (for the error message),
    and whether every one succeeded and showed the old state (a SET that got no answer was lost)."""

    last: str = "never read"
    only_old_state: bool = True


class Pdu:
    """One switched, metered PDU. Thread-safe; at most ``max_in_flight`` requests to it at once."""

    def __init__(self, name: str, host: str, port: int, *, vendor: str, credentials: SnmpCredentials,
                 timeout_s: float = 1.0, retries: int = 1, clock: Clock | None = None,
                 loop: SnmpLoop | None = None, max_in_flight: int = 2) -> None:
        if timeout_s <= 0 or retries < 0:
            raise ValueError("timeout_s must be > 0 and retries >= 0")
        if not 1 <= max_in_flight <= 16:
            raise ValueError("max_in_flight must be 1..16 (real PDU firmware is slow)")
        self.name, self.host, self.port = name, host, port
        self.credentials = credentials
        self.timeout_s, self.retries = timeout_s, retries
        self.max_in_flight = max_in_flight
        self.clock: Clock = clock or RealClock()
        self._link = AgentLink(name, host, port, vmap=load_vendor_map(vendor), credentials=credentials,
                               timeout_s=timeout_s, retries=retries, max_in_flight=max_in_flight, loop=loop)
        self._num_phases: int | None = None
        self._num_outlets: int | None = None

    def __repr__(self) -> str:
        return f"Pdu({self.name!r}, {self.host}:{self.port}, vendor={self.vmap.vendor!r}, {self.credentials!r})"

    @property
    def vmap(self) -> VendorMap:
        """The vendor map the PDU is spoken to with (one object shared with its agent link)."""
        return self._link.vmap

    @vmap.setter
    def vmap(self, vmap: VendorMap) -> None:
        self._link.vmap = vmap

    @property
    def requests_sent(self) -> int:
        """SNMP requests sent so far (each GET, GETBULK or SET counts one, retries not counted)."""
        return self._link.requests

    # ------------------------------------------------------------------ outlet state
    def outlet_is_on(self, outlet: int) -> bool:
        return self.outlets_state([outlet])[outlet]

    def outlets_state(self, outlets: list[int]) -> dict[int, bool]:
        """Relay state of each outlet (True = closed), in one batched GET (per ``max_varbinds`` chunk)."""
        spec = self.vmap.outlet.state
        outs = _unique_outlets(outlets)
        values = self._link.get([self._link.item(f"outlet {n} state", spec, outlet=n) for n in outs])
        out: dict[int, bool] = {}
        for n, state in zip(outs, (str(v) for v in values), strict=True):
            if state not in ("on", "off", "pending_on", "pending_off"):
                raise SnmpError(self.name, f"GET outlet {n} state ({spec.oid_for(outlet=n)})",
                                f"the PDU reports the outlet state as {state!r}")
            out[n] = state in ("on", "pending_off")  # pending_off: still closed, an 'off' waits
        return out

    def outlet_pending(self, outlet: int) -> bool | None:
        """Whether a command waits on the outlet; None if the MIB cannot say (Raritan)."""
        src = self.vmap.pending_source()
        if src is None:
            return None
        item = Item(f"outlet {outlet} pending", src.oid_for(outlet=outlet), src)
        name = str(self._link.get([item])[0])
        if name == "unknown":
            raise SnmpError(self.name, f"GET {item.label} ({item.oid})", "the PDU does not know")
        return name.startswith("pending")

    # ------------------------------------------------------------------ switching
    def set_outlet(self, outlet: int, on: bool, *, confirm_timeout_s: float = 10.0, poll_s: float = 0.5,
                   max_unanswered_resends: int = 2) -> None:
        """Switch an outlet and confirm it by reading the state back.

        The SET is never re-sent blindly. It is sent again only when it got no answer *and* the outlet
        then read back, for the whole confirmation window, in its old state: the request was lost, not
        executed. On/off is a target state, so even a copy that arrives late is harmless (unlike a
        reboot, which :meth:`cycle_outlet` never re-sends). At most ``max_unanswered_resends`` times.

        Raises :class:`SnmpError` if the PDU refused the SET (nothing happened), and
        :class:`PowerActionUncertain` if the state did not read back as wanted by the deadline.
        """
        _check_index(outlet, "outlet")
        want = "on" if on else "off"
        oid, raw = self.vmap.outlet.control.set_for(want, outlet)
        request = f"SET outlet {outlet} {want} ({oid} = {raw})"
        for sends in range(1, max_unanswered_resends + 2):
            set_timeout = self._link.set_once(oid, raw, request)
            seen = _ReadBack()

            def confirmed(seen: _ReadBack = seen) -> bool:
                try:
                    if self.outlets_state([outlet])[outlet] is on:
                        return True
                    seen.last = f"last read {'on' if not on else 'off'}"
                except SnmpError as exc:
                    seen.last = f"last read failed: {exc.problem}"
                    seen.only_old_state = False
                return False

            if wait_until(self.clock, confirmed, timeout=confirm_timeout_s, poll=poll_s):
                return
            if set_timeout is None or not seen.only_old_state or sends > max_unanswered_resends:
                break
            log.warning("%s: %s got no answer and outlet %d still reads %s: the SET was lost, sending it again",
                        self.name, request, outlet, "off" if on else "on")
        sent = "the SET got no answer" if set_timeout else "the SET was accepted"
        raise PowerActionUncertain(self.name, request,
                                   f"outlet not confirmed {want} within {confirm_timeout_s:g} s ({sent}; "
                                   f"{seen.last}; sent {sends} time(s)){self._breakers_note() if on else ''}")

    def cycle_outlet(self, outlet: int, *, confirm_timeout_s: float = 30.0, poll_s: float = 0.5) -> None:
        """Power-cycle (reboot) an outlet with the PDU's own command: off, the PDU's off-time, on.

        A cycle is not idempotent, so: the pending-command column is read first and a pending outlet
        is refused; the SET goes out once (``retries=0``) and is never re-sent; success is the outlet
        seen off (or pending) and then on again, or, if the SET was acknowledged, on and idle by the
        deadline.
        """
        _check_index(outlet, "outlet")
        control = self.vmap.outlet.control
        if not control.offers("reboot"):
            raise SnmpError(self.name, f"cycle outlet {outlet}", f"the {self.vmap.vendor} map has no reboot command")
        oid, raw = control.set_for("reboot", outlet)
        request = f"SET outlet {outlet} reboot ({oid} = {raw})"
        if self.outlet_pending(outlet):
            raise SnmpError(self.name, request, "a command is already pending on the outlet; not sending another")
        set_timeout = self._link.set_once(oid, raw, request)
        seen = _ReadBack()
        saw_off = False

        def cycled() -> bool:
            nonlocal saw_off
            try:
                on = self.outlet_is_on(outlet)
                pending = self.outlet_pending(outlet)
                saw_off = saw_off or not on or bool(pending)
                if on and not pending and (saw_off or not set_timeout):
                    return True
                seen.last = f"last read {'on' if on else 'off'}{' (pending)' if pending else ''}"
            except SnmpError as exc:
                seen.last = f"last read failed: {exc.problem}"
            return False

        if wait_until(self.clock, cycled, timeout=confirm_timeout_s, poll=poll_s):
            return
        sent = "the SET got no answer" if set_timeout else "the SET was accepted"
        raise PowerActionUncertain(self.name, request,
                                   f"cycle not confirmed within {confirm_timeout_s:g} s ({sent}; {seen.last})")

    def power_on_sequenced(self, outlets: list[int], stagger_s: float, *, confirm_timeout_s: float = 10.0,
                           poll_s: float = 0.5) -> None:
        """Switch ``outlets`` on one by one, ``stagger_s`` apart on the clock (limits inrush), each
        confirmed by reading back. Outlets already on are left alone (not switched again)."""
        if stagger_s < 0:
            raise ValueError("stagger_s must be >= 0")
        outs = _unique_outlets(outlets)
        states = self.outlets_state(outs)
        first = True
        for n in outs:
            if states[n]:
                continue
            if not first and stagger_s:
                self.clock.sleep(stagger_s)
            first = False
            self.set_outlet(n, True, confirm_timeout_s=confirm_timeout_s, poll_s=poll_s)

    def power_on_all_sequenced(self, stagger_s: float, *, confirm_timeout_s: float = 10.0,
                               poll_s: float = 0.5) -> None:
        """The PDU's own sequenced power-on (APC delayedAllOn): outlet i gets an on-delay of
        (i - 1) x ``stagger_s`` (whole seconds, as the MIB takes them), then one group command, sent
        once and never re-sent; every outlet is then confirmed on by reading back."""
        seq = self.vmap.sequence
        if seq is None:
            raise SnmpError(self.name, "sequenced power-on", f"the {self.vmap.vendor} map has no group command")
        if stagger_s < 0:
            raise ValueError("stagger_s must be >= 0")
        outs = list(range(1, self.num_outlets() + 1))
        delays = {n: int(round(i * stagger_s)) for i, n in enumerate(outs)}
        for start in range(0, len(outs), self.vmap.max_varbinds):  # config writes: idempotent, retried
            chunk = outs[start:start + self.vmap.max_varbinds]
            pairs = [(seq.on_delay_s.oid_for(outlet=n), Integer32(delays[n])) for n in chunk]
            self._link.set(f"SET on-delays of outlets {chunk[0]}..{chunk[-1]}", pairs, retries=self.retries)
        raw = seq.command.raw_of("all_on_sequenced")
        request = f"SET all outlets on, sequenced ({seq.command.oid_for()} = {raw})"
        set_timeout = self._link.set_once(seq.command.oid_for(), raw, request)
        total = confirm_timeout_s + max(delays.values(), default=0)
        seen = _ReadBack()

        def all_on() -> bool:
            try:
                off = [n for n, on in self.outlets_state(outs).items() if not on]
                if not off:
                    return True
                seen.last = f"still off: {off}"
            except SnmpError as exc:
                seen.last = f"last read failed: {exc.problem}"
            return False

        if wait_until(self.clock, all_on, timeout=total, poll=poll_s):
            return
        sent = "the SET got no answer" if set_timeout else "the SET was accepted"
        raise PowerActionUncertain(self.name, request, f"not all on within {total:g} s ({sent}; {seen.last})")

    # ------------------------------------------------------------------ metering
    def outlet_power_w(self, outlet: int) -> float:
        return self.outlets_power_w([outlet])[outlet]

    def outlets_power_w(self, outlets: list[int]) -> dict[int, float]:
        """Active power of each outlet in watts, batched (many varbinds per GET)."""
        return self._outlet_values(outlets, "power_w", self.vmap.outlet.power_w)

    def outlet_current_a(self, outlet: int) -> float:
        return self.outlets_current_a([outlet])[outlet]

    def outlets_current_a(self, outlets: list[int]) -> dict[int, float]:
        return self._outlet_values(outlets, "current_a", self.vmap.outlet.current_a)

    def outlets_energy_kwh(self, outlets: list[int]) -> dict[int, float]:
        spec = self.vmap.outlet.energy_kwh
        if spec is None:
            raise SnmpError(self.name, "GET outlet energy", f"the {self.vmap.vendor} map has no energy column")
        return self._outlet_values(outlets, "energy_kwh", spec)

    def phase_currents_a(self) -> dict[int, float]:
        """Current per input phase (line) in amps."""
        return {p: m.current_a for p, m in self.metering_phases().items()}

    def metering_phases(self) -> dict[int, PhaseMeter]:
        d = self.vmap.device
        phases = list(range(1, self.num_phases() + 1))
        items = [self._link.item(f"phase {p} current_a", d.phase_current_a, phase=p) for p in phases]
        extra = [(k, s) for k, s in (("voltage_v", d.phase_voltage_v), ("power_w", d.phase_power_w)) if s]
        for key, spec in extra:
            items += [self._link.item(f"phase {p} {key}", spec, phase=p) for p in phases]
        values = iter(self._link.get(items))
        cur = {p: float(next(values)) for p in phases}
        more = {key: {p: float(next(values)) for p in phases} for key, _ in extra}
        return {p: PhaseMeter(cur[p], more.get("voltage_v", {}).get(p), more.get("power_w", {}).get(p))
                for p in phases}

    def num_phases(self) -> int:
        """Input phases: the map's count object, else the rows of the phase-current table (GETBULK)."""
        if self._num_phases is None:
            self._num_phases = self._count("phases", self.vmap.device.num_phases, self.vmap.device.phase_current_a,
                                           "phase")
        return self._num_phases

    def num_outlets(self) -> int:
        """Outlets: the map's count object, else the rows of the outlet-state table (GETBULK)."""
        if self._num_outlets is None:
            self._num_outlets = self._count("outlets", self.vmap.device.num_outlets, self.vmap.outlet.state, "outlet")
        return self._num_outlets

    def _count(self, what: str, count: ObjectSpec | None, table: ObjectSpec, index: str) -> int:
        """How many phases/outlets: the count object where the MIB has one, else the table's rows."""
        if count is not None:
            n = int(self._link.get([self._link.item(f"number of {what}", count)])[0])
        else:
            n = len(self._link.rows(table, index))
        if n < 1:
            raise SnmpError(self.name, f"GET number of {what}", f"implausible value {n}")
        return n

    def total_power_w(self) -> float:
        """The PDU's own total (inlet) active power in watts."""
        return float(self._link.get([self._link.item("inlet power_w", self.vmap.device.power_w)])[0])

    def metering(self, outlets: list[int] | None = None, *, max_varbinds: int | None = None) -> PduMetering:
        """Every outlet's current/power/energy, every phase's current/voltage/power and the inlet's
        power/energy/current, in as few requests as the map's ``max_varbinds`` allows (chunks sent
        concurrently up to ``max_in_flight``). ``max_varbinds=1`` reads one OID per request (for
        comparison only). ``outlets`` None = all (counted once from the PDU)."""
        before = self._link.requests
        outs = _unique_outlets(outlets if outlets is not None else range(1, self.num_outlets() + 1))
        phases = list(range(1, self.num_phases() + 1))
        items, keys = metering_items(self.vmap, outs, phases, self._link.item)
        values = self._link.get(items, chunk=max_varbinds)
        return assemble(keys, values, outs, phases, self._link.requests - before)

    def _outlet_values(self, outlets: Iterable[int], what: str, spec: ObjectSpec) -> dict[int, float]:
        outs = _unique_outlets(outlets)
        values = self._link.get([self._link.item(f"outlet {n} {what}", spec, outlet=n) for n in outs])
        return {n: float(v) for n, v in zip(outs, values, strict=True)}

    # ------------------------------------------------------------------ breakers and identity
    def breaker_states(self) -> dict[int, str]:
        """Branch breaker -> 'ok' | 'tripped' | 'overload' | 'unknown' (1-based branch number), from the
        rows of the vendor's breaker table (GETBULK)."""
        bk = self.vmap.breaker
        if bk is None:
            raise SnmpError(self.name, "GET breakers", f"the {self.vmap.vendor} map has no breaker table")
        return {n: str(v) for n, v in self._link.rows(bk.state, "branch").items()}

    def breakers_tripped(self) -> list[int]:
        return sorted(n for n, s in self.breaker_states().items() if s in ("tripped", "overload"))

    def _breakers_note(self) -> str:
        """Why an outlet may not come on: a tripped branch breaker, read from the vendor map's breaker
        table ('' when none is tripped, or the PDU cannot say)."""
        if self.vmap.breaker is None:
            return ""
        try:
            tripped = {n: s for n, s in self.breaker_states().items() if s in ("tripped", "overload")}
        except SnmpError as exc:
            return f"; breaker states not readable: {exc.problem}"
        if not tripped:
            return ""
        which = ", ".join(f"breaker {n} {s}" for n, s in sorted(tripped.items()))
        return f"; {self.name} reports {which}: a tripped (or overloaded) breaker keeps its outlets off"

    def identity(self) -> dict[str, str]:
        """model, firmware, serial (plus sys_object_id and sys_descr) for the run's traceability record."""
        ident = self.vmap.identity
        fields = ("model", "firmware", "serial", "sys_object_id", "sys_descr")
        values = self._link.get([self._link.item(f, getattr(ident, f)) for f in fields])
        return {f: str(v) for f, v in zip(fields, values, strict=True)}

    def close(self) -> None:
        """Forget the transport targets. The shared SNMP loop stays up for other PDUs."""
        self._link.close()

    def __enter__(self) -> Pdu:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_index(n: object, what: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{what} must be a positive int, not {n!r}")


def _unique_outlets(outlets: Iterable[int]) -> list[int]:
    outs = list(dict.fromkeys(outlets))
    if not outs:
        raise ValueError("no outlets given")
    for n in outs:
        _check_index(n, "outlet")
    return outs
