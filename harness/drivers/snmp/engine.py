"""A synchronous facade over pysnmp 7's asyncio-only API.

pysnmp 7 has no sync API, and an ``SnmpEngine`` belongs to the event loop it was first used on
(reusing it on a second loop hangs forever: lextudio/pysnmp#237). So one :class:`SnmpLoop` owns one
event-loop thread and one engine for its whole life; callers on any thread submit coroutines with
:meth:`SnmpLoop.run`. :func:`shared_loop` hands out a process-wide instance, created lazily under a lock
and closed at interpreter exit.

The loop's engine is shared by every SNMPv2c link (a community needs no per-agent state). An SNMPv3
link has a :class:`PeerEngine` of its own instead: pysnmp's engine caches the agent's engine ID per
transport address (for 300 s) and its boots/time per engine ID, so a shared engine keeps speaking to
the *previous* agent at an address (another engine ID, or the same ID with another clock), and the new
agent never answers. One engine per link discovers each agent afresh (and keeps its keys and engine ID
for the link's life: the fast path), and two v3 requests in a row that an agent it had discovered
leaves unanswered retire it, so the next request (the retry) discovers the agent again.

A caller blocked in :meth:`run` is doing I/O, not sleeping: on a :class:`~harness.clock.VirtualClock`
simulated time stays frozen while a request is in flight, as the clock's contract says.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine
from pysnmp.proto.mpmod.rfc3412 import SnmpV3MessageProcessingModel

T = TypeVar("T")


def drain_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on a stopped loop, let it finish, close the loop.

    Shared by every loop thread that serves pysnmp (this driver's loop and the simulated agents), so
    none leaves 'Task was destroyed but it is pending' warnings or an unclosed loop behind."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(asyncio.sleep(0))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


class SnmpLoopClosed(RuntimeError):
    """The loop was closed; no more requests can run on it."""


class SnmpLoop:
    """One asyncio loop thread owning one ``SnmpEngine``."""

    def __init__(self, name: str = "rackval-snmp") -> None:
        self._loop = asyncio.new_event_loop()
        self._closed = False
        self._close_lock = threading.Lock()
        self._engine: SnmpEngine | None = None
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name=name, daemon=True)
        self._thread.start()
        ready.wait()
        # Build the engine on its own loop so everything it creates binds to that loop.
        self._engine = self._submit(self._make_engine(), timeout=10.0)

    @staticmethod
    async def _make_engine() -> SnmpEngine:
        return SnmpEngine()

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(ready.set)
        try:
            self._loop.run_forever()
        finally:
            drain_loop(self._loop)

    @property
    def engine(self) -> SnmpEngine:
        if self._engine is None:
            raise SnmpLoopClosed("SNMP engine is not running")
        return self._engine

    @property
    def closed(self) -> bool:
        return self._closed

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the loop thread soon (e.g. closing an engine from another thread); a no-op once
        the loop is closed (its engines' transports are closed with it)."""
        if not self._closed and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(fn)
            except RuntimeError:  # closed in between: nothing left to close
                pass

    def run(self, make: Callable[[SnmpEngine], Awaitable[T]], timeout: float) -> T:
        """Run ``make(engine)`` on the loop and wait for it at most ``timeout`` wall seconds.

        The wall timeout is a backstop: pysnmp's own timeout/retries should fire first. Raises
        ``TimeoutError`` (the coroutine is cancelled) or whatever the coroutine raised.
        """
        engine = self.engine

        async def call() -> T:
            return await make(engine)

        return self._submit(call(), timeout)

    def _submit(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("SnmpLoop.run called from its own loop thread (would deadlock)")
        if self._closed or self._loop.is_closed():
            coro.close()
            raise SnmpLoopClosed("SNMP loop is closed")
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise TimeoutError(f"no result within {timeout:.1f} s") from None
        except concurrent.futures.CancelledError:
            raise SnmpLoopClosed("SNMP loop closed while a request was in flight") from None

    def close(self) -> None:
        """Close the engine's transports on its loop, stop the loop, join the thread. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self._thread.is_alive() and not self._loop.is_closed():
            def shutdown() -> None:
                if self._engine is not None:
                    self._engine.close_dispatcher()
                self._loop.stop()

            self._loop.call_soon_threadsafe(shutdown)
            if threading.current_thread() is not self._thread:
                self._thread.join(timeout=10.0)
        self._engine = None

    def __enter__(self) -> SnmpLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Requests in a row that an engine's known agent leaves unanswered before the engine is retired: one
#: is a lost datagram far more often than a replaced agent (and a rediscovery sends datagrams of its own).
RETIRE_AFTER = 2


class PeerEngine:
    """The SNMPv3 manager engine of one link, made on first use and retired when :data:`RETIRE_AFTER`
    requests in a row get no answer while it believes it knows the agent's engine ID.

    Everything it holds about the agent (engine ID, boots and time, localized keys) is then learnt afresh
    by the next engine: RFC 3414 discovery again. An engine that never discovered the agent (a dead
    address, every reply lost) holds nothing stale and is kept: a new engine costs a MIB load (~0.1 s
    CPU). A retired engine is closed once its last request is done. All methods except :meth:`close`
    run on the SNMP loop's thread (no lock needed).
    """

    def __init__(self) -> None:
        self._current: SnmpEngine | None = None
        self._unanswered = 0  # requests in a row the current engine got no answer to
        self._in_flight: dict[SnmpEngine, int] = {}
        self._closed = False
        self.made = 0  # engines made so far: 1 + the rediscoveries

    @property
    def has_current(self) -> bool:
        """An engine is in use (not retired); False before the first request or after a retirement."""
        return self._current is not None

    def acquire(self) -> SnmpEngine:
        """The engine for one request (a new one if none or the last was retired)."""
        if self._closed:
            raise SnmpLoopClosed("the link's SNMP engine is closed")
        if self._current is None:
            self._current = SnmpEngine()
            self._unanswered = 0
            self.made += 1
        engine = self._current
        self._in_flight[engine] = self._in_flight.get(engine, 0) + 1
        return engine

    def release(self, engine: SnmpEngine, *, answered: bool, address: tuple[str, int]) -> None:
        """One request on ``engine`` to the agent at ``address`` is done. The agent whose engine ID it had
        cached leaving :data:`RETIRE_AFTER` in a row unanswered retires the engine: the agent at the
        address may be another one now."""
        self._in_flight[engine] -= 1
        if engine is self._current:
            self._unanswered = 0 if answered else self._unanswered + 1
            if self._unanswered >= RETIRE_AFTER and knows_agent(engine, address):
                self._current = None
        self._close_idle()

    def _close_idle(self) -> None:
        """Close every retired engine that no request uses any more."""
        for engine, n in list(self._in_flight.items()):
            if n == 0 and engine is not self._current:
                del self._in_flight[engine]
                engine.close_dispatcher()

    def close(self, loop: SnmpLoop) -> None:
        """From any thread: close the engines on ``loop``'s thread (in-flight ones when they finish)."""
        def shut() -> None:
            self._closed = True
            self._current = None
            self._close_idle()

        loop.call_soon(shut)


def knows_agent(engine: SnmpEngine, address: tuple[str, int]) -> bool:
    """Whether ``engine`` has the engine ID of the agent at ``address`` (UDP) cached, as pysnmp does per
    transport address after discovery (for 300 s)."""
    mp = engine.message_processing_subsystems[SnmpV3MessageProcessingModel.MESSAGE_PROCESSING_MODEL_ID]
    security_engine_id, _, _ = mp.get_peer_engine_info(udp.DOMAIN_NAME, address)
    return security_engine_id is not None


_shared: SnmpLoop | None = None
_shared_lock = threading.Lock()


def shared_loop() -> SnmpLoop:
    """The process-wide SNMP loop (created on first use, replaced if it was closed)."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.closed:
            _shared = SnmpLoop()
        return _shared


def close_shared_loop() -> None:
    """Close the process-wide loop (also runs at interpreter exit)."""
    global _shared
    with _shared_lock:
        loop, _shared = _shared, None
    if loop is not None:
        loop.close()


atexit.register(close_shared_loop)
