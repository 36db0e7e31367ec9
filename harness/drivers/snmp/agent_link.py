"""AgentLink: the SNMP exchanges with one PDU's agent, vendor-neutral and strict.

* Reads are batched: many varbinds per GET, chunked to the map's ``max_varbinds`` (about 5x faster
  than single GETs and kinder to slow PDU firmware); tables are walked with GETBULK. At most
  ``max_in_flight`` requests to one agent are in flight at once (the per-PDU concurrency cap).
* Reads (GET, GETBULK) that get no answer are asked again up to ``retries`` times, by this link rather
  than inside pysnmp, so each lost one is recorded in the run's log.
* A power SET goes out once, with ``retries=0`` (:meth:`AgentLink.set_once`): pysnmp re-sends a SET
  on every retry and the agent executes each copy. Its timeout is returned, not raised: the SET may
  have executed, and only reading back can tell (the :class:`~harness.drivers.snmp.pdu.Pdu` does).
* SNMPv3 links have a manager engine of their own (:class:`~harness.drivers.snmp.engine.PeerEngine`):
  each discovers its agent's engine ID, boots and time afresh, and two v3 requests in a row that an
  agent it had discovered leaves unanswered retire it, so the retry rediscovers (the agent at the
  address may have been replaced: another engine ID). A shared engine kept the old engine ID for the address and was
  never answered again.
* Decimal digits the device reports (Raritan) are read from it once per sensor and cached.
* Every failure is an :class:`SnmpError` (or :class:`SnmpTimeout`) naming the PDU, the request and
  the OID. Numeric OIDs only, ``lookupMib=False``: no MIB compiler (pysmi) at run time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    ContextData,
    Integer32,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    bulk_cmd,
    get_cmd,
    set_cmd,
)
from pysnmp.proto import errind, rfc1905

from harness.drivers.snmp.codec import DIGITS, Item, decode
from harness.drivers.snmp.credentials import SnmpCredentials
from harness.drivers.snmp.engine import PeerEngine, SnmpLoop, SnmpLoopClosed, shared_loop
from harness.drivers.snmp.mib_objects import ObjectSpec
from harness.drivers.snmp.vendor_map import VendorMap
from harness.errors import SnmpError, SnmpTimeout

#: One request for :meth:`AgentLink.run`: (description, varbinds, value) where value is None for a
#: GET, "bulk" for a GETBULK, or the list of values of a SET.
Request = tuple[str, Sequence[Item], Any]
log = logging.getLogger(__name__)


class AgentLink:
    """Requests to one agent. Thread-safe; at most ``max_in_flight`` requests to it at once."""

    def __init__(self, name: str, host: str, port: int, *, vmap: VendorMap, credentials: SnmpCredentials,
                 timeout_s: float, retries: int, max_in_flight: int, loop: SnmpLoop | None = None) -> None:
        self.name, self.host, self.port = name, host, port
        self.vmap, self.credentials = vmap, credentials
        self.timeout_s, self.retries, self.max_in_flight = timeout_s, retries, max_in_flight
        self._loop = loop
        self._lock = threading.Lock()  # guards the caches below, never held across I/O
        self._targets: dict[int, UdpTransportTarget] = {}
        self._sem: asyncio.Semaphore | None = None  # created on the SNMP loop: the per-PDU cap
        self._bound_loop: SnmpLoop | None = None
        self._peer: PeerEngine | None = None  # v3 only: this link's own engine (see PeerEngine)
        self._close_peer: Callable[[], object] = lambda: None
        self.digits: dict[str, int] = {}  # decimal digits read from the device, by their OID
        self.requests = 0  # SNMP requests sent (each GET, GETBULK or SET counts one, retries not counted)
        self._closed = False

    def item(self, label: str, spec: ObjectSpec, **index: int) -> Item:
        """The varbind of ``spec`` at ``index`` (outlet=, phase=, branch=), with its digits OID if any."""
        digits = spec.digits.oid_for(**index) if spec.digits is not None else None
        return Item(label, spec.oid_for(**index), spec, digits)

    # ------------------------------------------------------------------ reads
    def get(self, items: Sequence[Item], *, chunk: int | None = None) -> list[Any]:
        """GET ``items`` in chunks of ``max_varbinds`` (sent concurrently up to the cap); decode each
        value by its spec. Decimal digits the device reports are fetched once (first) and cached."""
        size = chunk or self.vmap.max_varbinds
        self._ensure_digits(items, size)
        return self._fetch(items, size)

    def rows(self, spec: ObjectSpec, var: str) -> dict[int, Any]:
        """Walk ``spec``'s column with GETBULK and return {row number: decoded value} for the rows that
        fit its instance template (the template's other parts must match exactly)."""
        parts = spec.instance.split(".")
        pos = parts.index("{" + var + "}")
        prefix = ".".join([spec.oid, *parts[:pos]])
        tail = parts[pos + 1:]
        rows: dict[int, Any] = {}
        for oid, value in self._walk(prefix):
            rest = oid[len(prefix) + 1:].split(".")
            if len(rest) != 1 + len(tail) or rest[1:] != tail or not rest[0].isdigit():
                continue
            n = int(rest[0])
            item = self.item(f"{var} {n} {spec.mib_name or spec.oid}", spec, **{var: n})
            rows[n] = (item, value)
        self._ensure_digits([i for i, _ in rows.values()], self.vmap.max_varbinds)
        return {n: decode(self.name, i, v, self.digits) for n, (i, v) in sorted(rows.items())}

    def _ensure_digits(self, items: Iterable[Item], size: int) -> None:
        missing = sorted({i.digits_oid for i in items if i.digits_oid and i.digits_oid not in self.digits})
        if not missing:
            return
        digit_items = [Item(f"decimal digits ({oid})", oid, DIGITS) for oid in missing]
        for item, raw in zip(digit_items, self._fetch(digit_items, size), strict=True):
            if not isinstance(raw, int) or not 0 <= raw <= 6:
                raise SnmpError(self.name, f"GET {item.label}", f"implausible decimal digits {raw!r}")
            with self._lock:
                self.digits[item.oid] = raw

    def _fetch(self, items: Sequence[Item], size: int) -> list[Any]:
        chunks = [items[s:s + size] for s in range(0, len(items), size)]
        answers = self.run([(_describe("GET", c), c, None) for c in chunks], retries=self.retries)
        out: list[Any] = []
        for chunk, (request, var_binds) in zip(chunks, answers, strict=True):
            if len(var_binds) != len(chunk):
                raise SnmpError(self.name, request, f"asked for {len(chunk)} values, got {len(var_binds)}")
            for item, (oid, value) in zip(chunk, var_binds, strict=True):
                if str(oid) != item.oid:
                    raise SnmpError(self.name, f"GET {item.label} ({item.oid})", f"the answer names OID {oid}")
                out.append(decode(self.name, item, value, self.digits))
        return out

    def _walk(self, prefix: str) -> list[tuple[str, Any]]:
        """Every (oid, value) under ``prefix``, by GETBULK (``max_varbinds`` rows per request)."""
        out: list[tuple[str, Any]] = []
        start = prefix
        for _ in range(1000):
            request = f"GETBULK {prefix} (from {start})"
            [(_, var_binds)] = self.run([(request, [Item(request, start, DIGITS)], "bulk")], retries=self.retries)
            if not var_binds:
                return out
            for oid, value in var_binds:
                name = str(oid)
                if not name.startswith(prefix + ".") or isinstance(value, rfc1905.EndOfMibView):
                    return out
                out.append((name, value))
                start = name
        raise SnmpError(self.name, f"GETBULK {prefix}", "the table did not end after 1000 requests")

    # ------------------------------------------------------------------ writes
    def set_once(self, oid: str, raw: int, request: str) -> SnmpTimeout | None:
        """A power SET, sent exactly once (``retries=0``). A timeout is returned, not raised: the SET
        may have executed, and only reading back can tell."""
        try:
            self.set(request, [(oid, Integer32(raw))], retries=0)
        except SnmpTimeout as exc:
            return exc
        return None

    def set(self, request: str, pairs: list[tuple[str, Any]], *, retries: int) -> None:
        """One SET of ``pairs`` (OID, pysnmp value); ``retries`` > 0 only for idempotent config writes."""
        items = [Item(request, oid, self.vmap.outlet.control) for oid, _ in pairs]
        self.run([(request, items, [v for _, v in pairs])], retries=retries)

    def _rediscovering(self) -> bool:
        """Whether the next v3 request will run on a fresh engine (the last one was retired)."""
        return self._peer is not None and self._peer.made > 0 and not self._peer.has_current

    # ------------------------------------------------------------------ the exchange
    def run(self, requests: list[Request], *, retries: int) -> list[tuple[str, list[tuple[Any, Any]]]]:
        """Send ``requests`` on the SNMP loop, at most ``max_in_flight`` at once; errors mapped to
        SnmpError naming the request."""
        auth = self.credentials.auth_data()
        timeout_s, cap = self.timeout_s, self.max_in_flight
        reps = self.vmap.max_varbinds

        async def target_for(tries_inside: int) -> UdpTransportTarget:
            target = self._targets.get(tries_inside)
            if target is None:
                target = await UdpTransportTarget.create((self.host, self.port), timeout=timeout_s,
                                                         retries=tries_inside)
                self._targets[tries_inside] = target
            return target

        async def ask(target: UdpTransportTarget, send: Callable[[SnmpEngine], Awaitable[Any]],
                      shared: SnmpEngine) -> Any:
            """One pysnmp request, on the link's own engine for v3 (no answer may retire that engine)."""
            peer = self._peer
            if peer is None:
                return await send(shared)
            engine = peer.acquire()
            answered = False
            try:
                result = await send(engine)
                answered = not isinstance(result[0], errind.RequestTimedOut)
                return result
            finally:
                peer.release(engine, answered=answered, address=target.transport_address)

        async def read(items: Sequence[Item], value: Any, engine: SnmpEngine, target: UdpTransportTarget) -> Any:
            if value is None:
                objs = [ObjectType(ObjectIdentity(i.oid)) for i in items]
                return await get_cmd(engine, auth, target, ContextData(), *objs, lookupMib=False)
            return await bulk_cmd(engine, auth, target, ContextData(), 0, reps,
                                  ObjectType(ObjectIdentity(items[0].oid)), lookupMib=False)

        async def one(request: str, items: Sequence[Item], value: Any, engine: SnmpEngine) -> Any:
            assert self._sem is not None
            async with self._sem:
                if value is not None and value != "bulk":
                    objs = [ObjectType(ObjectIdentity(i.oid), v) for i, v in zip(items, value, strict=True)]
                    target = await target_for(retries)
                    return await ask(target, lambda e: set_cmd(e, auth, target, ContextData(), *objs,
                                                               lookupMib=False), engine)
                target = await target_for(0)
                attempt = 0  # a read: asked again here when it gets no answer
                while True:
                    result = await ask(target, lambda e: read(items, value, e, target), engine)
                    if attempt >= retries or not isinstance(result[0], errind.RequestTimedOut):
                        return result
                    attempt += 1
                    log.info("%s: %s got no answer within %g s; asking again (%d/%d)%s", self.name, request,
                             timeout_s, attempt, retries,
                             ", rediscovering the agent (SNMPv3 engine ID)" if self._rediscovering() else "")

        async def call(engine: SnmpEngine) -> list[Any]:
            if self._sem is None:
                self._sem = asyncio.Semaphore(cap)
            return await asyncio.gather(*(one(request, items, value, engine) for request, items, value in requests),
                                        return_exceptions=True)

        snmp_loop = self._loop if self._loop is not None else shared_loop()
        with self._lock:
            if snmp_loop is not self._bound_loop:  # targets, semaphore and engine belong to one loop
                self._targets.clear()
                self._sem = None
                self._bound_loop = snmp_loop
                self._close_peer()
                if self.credentials.version == "3":
                    self._peer = PeerEngine()
                    # closed with the link, or when an unclosed link is collected
                    self._close_peer = weakref.finalize(self, self._peer.close, snmp_loop)
        waves = -(-len(requests) // cap)
        backstop = timeout_s * (retries + 1) * waves + 5.0
        with self._lock:
            if self._closed:
                raise SnmpError(self.name, requests[0][0], "the PDU driver is closed")
            self.requests += len(requests)
        try:
            results = snmp_loop.run(call, backstop)
        except TimeoutError:
            raise SnmpTimeout(self.name, requests[0][0], f"no answer within {backstop:.1f} s (wall backstop)") from None
        except SnmpLoopClosed as exc:
            raise SnmpError(self.name, requests[0][0], str(exc)) from None
        return [(request, self._answer(request, items, result, retries))
                for (request, items, _), result in zip(requests, results, strict=True)]

    def _answer(self, request: str, items: Sequence[Item], result: Any, retries: int) -> list[tuple[Any, Any]]:
        """The varbinds of one answer, or the SnmpError it amounts to."""
        if isinstance(result, BaseException):
            if isinstance(result, (SnmpError, KeyboardInterrupt, SystemExit)):
                raise result
            raise SnmpError(self.name, request, f"{type(result).__name__}: {result}") from result
        err_ind, err_stat, err_idx, var_binds = result
        if err_ind:
            if isinstance(err_ind, errind.RequestTimedOut):
                tries = retries + 1
                raise SnmpTimeout(self.name, request,
                                  f"no answer from {self.host}:{self.port} ({tries} attempt{'s' * (tries > 1)} "
                                  f"x {self.timeout_s:g} s)")
            raise SnmpError(self.name, request, str(err_ind))
        if err_stat:
            status = err_stat.prettyPrint() if hasattr(err_stat, "prettyPrint") else str(err_stat)
            idx = int(err_idx or 0)
            culprit = items[idx - 1] if 0 < idx <= len(items) else None
            where = f" at {culprit.label} ({culprit.oid})" if culprit and len(items) > 1 else ""
            raise SnmpError(self.name, request, f"the agent answered {status}{where}")
        return list(var_binds)

    def close(self) -> None:
        """Refuse further requests, forget the transport targets and close a v3 link's own engine (the
        SNMP loop stays up)."""
        with self._lock:
            self._closed = True
            self._targets.clear()
        self._close_peer()


def _describe(verb: str, items: Sequence[Item]) -> str:
    if len(items) == 1:
        return f"{verb} {items[0].label} ({items[0].oid})"
    return f"{verb} {items[0].label} .. {items[-1].label} ({len(items)} varbinds)"
