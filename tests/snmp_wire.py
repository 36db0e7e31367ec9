"""UDP stand-ins between the SNMP driver and a simulated agent, for tests that need to see or shape the
datagrams: a port that never answers, and a proxy that loses chosen datagrams or holds the replies back
until the test lets them go. Every decision is made per datagram, never by a wall-clock margin."""

from __future__ import annotations

import select
import socket
import threading
from collections import Counter
from typing import Any

from pyasn1.codec.ber import decoder
from pysnmp.proto import api


def pdu_kind(datagram: bytes) -> str:
    """'GetRequestPDU', 'SetRequestPDU', 'ResponsePDU', ... of one SNMP v1/v2c datagram; 'SNMPv3' for a
    v3 message (its PDU is encrypted)."""
    version = int(api.decodeMessageVersion(datagram))
    if version == 3:
        return "SNMPv3"
    module = api.PROTOCOL_MODULES[version]
    msg, _ = decoder.decode(datagram, asn1Spec=module.Message())
    return type(module.apiMessage.get_pdu(msg)).__name__


class _Pump:
    """A thread that waits on sockets (select) until closed; ``handle(sock)`` reads one that is ready."""

    def __init__(self, *socks: socket.socket) -> None:
        self._socks = list(socks)
        self._stop_r, self._stop_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, daemon=True, name=type(self).__name__)

    def _start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([*self._socks, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            for sock in ready:
                self.handle(sock)

    def handle(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop_w.send(b"x")
        self._thread.join()
        for sock in (*self._socks, self._stop_r, self._stop_w):
            sock.close()


class BlackHole(_Pump):
    """A UDP port that reads and counts requests but never answers (a dead or unplugged PDU): every
    driver timeout against it must expire, however short, on any machine."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.seen: Counter[str] = Counter()
        super().__init__(self.sock)
        self._start()

    def handle(self, sock: socket.socket) -> None:
        data, _ = sock.recvfrom(65535)
        self.seen[pdu_kind(data)] += 1


class UdpProxy(_Pump):
    """Forwards one driver's datagrams to an agent and back (v1/v2c), counting requests by kind.

    * ``lose="reply"``: the agent's answers to the first ``sets_to_lose`` SETs are dropped (the SETs run);
      ``lose="request"``: those SET requests are dropped (they never reach the agent).
    * ``hold=True``: every answer is kept back until :meth:`release`; :attr:`in_flight` is how many
      requests the driver has outstanding meanwhile and :attr:`max_in_flight` the most at once.
    """

    def __init__(self, agent_port: int, *, lose: str | None = None, sets_to_lose: int = 0,
                 hold: bool = False) -> None:
        self.lose, self.sets_to_lose = lose, sets_to_lose
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.connect(("127.0.0.1", agent_port))
        self.port = self.front.getsockname()[1]
        self.seen: Counter[str] = Counter()
        self.dropped = 0
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        self._held: list[bytes] | None = [] if hold else None
        self._drop_answer_of: set[int] = set()  # request ids whose answers are lost
        self._client: Any = None
        super().__init__(self.front, self.back)
        self._start()

    def handle(self, sock: socket.socket) -> None:
        if sock is self.front:
            data, self._client = sock.recvfrom(65535)
            kind = pdu_kind(data)
            with self._lock:
                self.seen[kind] += 1
                if kind == "SetRequestPDU" and self.lose and self.dropped < self.sets_to_lose:
                    self.dropped += 1
                    if self.lose == "request":
                        return
                    self._drop_answer_of.add(_request_id(data))
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.back.send(data)
            return
        answer = sock.recv(65535)
        with self._lock:
            if _request_id(answer) in self._drop_answer_of:
                self._drop_answer_of.discard(_request_id(answer))
                self.in_flight -= 1
                return
            if self._held is not None:
                self._held.append(answer)
                return
            self.in_flight -= 1
        self.front.sendto(answer, self._client)

    def hold(self) -> None:
        """Keep every answer back from now on (until :meth:`release`); the most in flight counts afresh."""
        with self._lock:
            if self._held is None:
                self._held = []
            self.max_in_flight = self.in_flight

    def release(self) -> None:
        """Send every held answer on, and stop holding."""
        with self._lock:
            held, self._held = self._held or [], None
            self.in_flight -= len(held)
        for answer in held:
            self.front.sendto(answer, self._client)


def _request_id(datagram: bytes) -> int:
    """The request-id of a v1/v2c message (a request and its answer share it)."""
    version = int(api.decodeMessageVersion(datagram))
    module = api.PROTOCOL_MODULES[version]
    msg, _ = decoder.decode(datagram, asn1Spec=module.Message())
    return int(module.apiPDU.get_request_id(module.apiMessage.get_pdu(msg)))
