"""Transport faults of a simulated SNMP agent: lost datagrams, delayed and damaged replies.

They sit in pysnmp's UDP transport, below the SNMP engine, so a lost request never reaches the MIB
(the command never runs) and a lost or damaged reply comes after it ran, exactly as on a real network.
Loss is decided by a seeded counter, so the same seed loses the same datagrams.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp

from harness.sim.faults.wire import WireFault, mangle_datagram
from harness.sim.physics.noise import uniform


@dataclass
class AgentFaults:
    """Transport faults of one agent. Loss is decided per datagram by a seeded counter, so the same
    seed loses the same datagrams; ``lose`` says whether requests (the command never runs) or replies
    (it runs, the answer is lost) go missing. ``delay_s`` holds every reply back (wall seconds: it is
    the network, not the simulated rack). ``report(fault, effect)`` is told each time a fault acts on a
    datagram (the agent points it at the station's fault log)."""

    loss: float = 0.0
    delay_s: float = 0.0
    lose: str = "request"
    seed: int = 0
    seen: int = 0
    dropped: int = 0
    wire: WireFault | None = None  # reply datagrams damaged on the wire (harness/sim/faults/wire.py)
    held: int = 0  # replies held back by ``delay_s`` right now
    max_held: int = 0  # the most at once: how many requests a client had in flight
    report: Callable[[str, str], None] = lambda fault, effect: None

    def drop(self) -> bool:
        self.seen += 1
        if self.loss <= 0.0:
            return False
        if uniform(self.seed, f"snmp-loss|{self.seen}", 0.0, 1.0) < self.loss:
            self.dropped += 1
            return True
        return False


class FaultyUdp(udp.UdpAsyncioTransport):
    """pysnmp's UDP transport with the agent's faults applied on the way in and out."""

    faults: AgentFaults

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:  # noqa: N803 - pysnmp's name
        if self.faults.lose == "request" and self.faults.drop():
            self.faults.report("loss", "request dropped")
            return
        super().datagram_received(datagram, transportAddress)

    def send_message(self, outgoingMessage: Any, transportAddress: Any) -> None:  # noqa: N803
        if self.faults.lose == "reply" and self.faults.drop():
            self.faults.report("loss", "reply dropped")
            return
        wire = self.faults.wire.take("") if self.faults.wire is not None else None
        if wire is not None:
            self.faults.report("wire", f"reply damaged ({wire.kind})")
            outgoingMessage = mangle_datagram(bytes(outgoingMessage), wire)
            if not outgoingMessage:
                return
        if self.faults.delay_s > 0:
            faults = self.faults
            faults.report("delay", f"reply held back {faults.delay_s:g} s")
            faults.held += 1
            faults.max_held = max(faults.max_held, faults.held)

            def release() -> None:
                faults.held -= 1
                super(FaultyUdp, self).send_message(outgoingMessage, transportAddress)

            self.loop.call_later(faults.delay_s, release)
        else:
            super().send_message(outgoingMessage, transportAddress)
