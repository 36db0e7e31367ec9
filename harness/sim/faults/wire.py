"""Replies corrupted on the wire: the fault the simulators inject to show that every driver turns
garbage into a typed error naming the device and the request (and never acts twice on it).

A :class:`Corruption` is plain data (so a fault scenario can carry it) and says what happens to a
reply the simulator was about to send:

* ``body_truncate``, ``body_insert``, ``body_replace``, ``retype``: the *content* is damaged but the
  framing is kept (an HTTP answer with a valid Content-Length around malformed or mistyped JSON; a
  SCPI reply line that is not what the command promises). The connection stays usable.
* ``truncate`` (cut, then FIN), ``reset`` (cut, then RST), ``garbage`` (bytes that are not the
  protocol at all, then FIN), ``flip`` (one byte inverted; HTTP then closes, since framing may be
  gone), ``empty`` (no answer, FIN): the *transport* breaks mid-reply.

For SNMP (UDP) the whole datagram is damaged instead (``truncate``/``flip``/``body_insert``/
``body_replace``/``garbage``; ``reset`` and ``empty`` lose it).

``match`` limits the fault to requests whose text contains it (case-insensitive: ``"GET /redfish/v1/
Chassis/compute01/Sensors"``, a SCPI header such as ``"numeric:normal:value?"``); ``count`` to the
first N matching replies (0: all). Simulators call :meth:`WireFault.take` per reply and one of the
``mangle_*`` functions; hooks: ``RedfishFleet.inject(bmc, "wire", ...)``, ``ScpiServer.inject("wire",
...)``, ``PduAgent.set_wire(...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
from dataclasses import dataclass, fields
from typing import Any, Literal, NamedTuple

Kind = Literal["body_truncate", "body_insert", "body_replace", "retype", "truncate", "reset", "garbage", "flip",
               "empty"]
KINDS: tuple[str, ...] = ("body_truncate", "body_insert", "body_replace", "retype", "truncate", "reset", "garbage",
                          "flip", "empty")
CONTENT_KINDS: tuple[str, ...] = ("body_truncate", "body_insert", "body_replace", "retype")
Then = Literal["keep", "close", "reset"]


@dataclass(frozen=True)
class Corruption:
    """What to do to a reply. ``at`` is a position as a fraction of the reply's length (0..1)."""

    kind: Kind
    at: float = 0.5
    data: bytes = b"\xff<garbage>"
    match: str = ""
    count: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown corruption {self.kind!r} (known: {', '.join(KINDS)})")
        if not 0.0 <= self.at <= 1.0 or self.count < 0:
            raise ValueError("at must be in [0, 1] and count >= 0")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Corruption:
        """From plain data (a fault scenario's ``args``); ``data`` may be given as text."""
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known
        if unknown:
            raise ValueError(f"unknown corruption parameter(s) {sorted(unknown)} (known: {sorted(known)})")
        args = dict(params)
        if isinstance(args.get("data"), str):
            args["data"] = args["data"].encode("utf-8", "surrogateescape")
        return cls(**args)

    def cut(self, n: int) -> int:
        """The byte position ``at`` points to in a reply of ``n`` bytes (never the whole reply)."""
        return min(max(0, int(self.at * n)), max(0, n - 1))


class WireFault:
    """An armed corruption with its match and count; thread-safe (simulators serve many clients)."""

    def __init__(self, corruption: Corruption) -> None:
        self.corruption = corruption
        self.applied = 0
        self._lock = threading.Lock()

    def take(self, request: str) -> Corruption | None:
        """The corruption for the reply to ``request``, or None to answer it normally."""
        c = self.corruption
        if c.match and c.match.lower() not in request.lower():
            return None
        with self._lock:
            if c.count and self.applied >= c.count:
                return None
            self.applied += 1
        return c


class Mangled(NamedTuple):
    data: bytes
    then: Then  # keep the connection, close it (FIN) or reset it (RST) after sending ``data``


# ---------------------------------------------------------------------------------------- content
def mangle_json(body: bytes, c: Corruption) -> bytes:
    """The body of an HTTP answer, damaged as ``c`` says (framing is the caller's)."""
    if c.kind == "body_truncate":
        return body[:c.cut(len(body))]
    if c.kind == "body_insert":
        at = c.cut(len(body))
        return body[:at] + c.data + body[at:]
    if c.kind == "body_replace":
        return c.data
    if c.kind == "retype":
        return retype(body, c)
    return body


def retype(body: bytes, c: Corruption) -> bytes:
    """Valid JSON with one value replaced by ``data`` (as JSON if it parses, else as a string)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return c.data
    slots = list(_slots(doc))
    if not slots:
        return c.data
    parent, key = slots[min(int(c.at * len(slots)), len(slots) - 1)]
    try:
        new: Any = json.loads(c.data)
    except ValueError:
        new = c.data.decode("utf-8", "replace")
    if parent is None:
        doc = new
    else:
        parent[key] = new
    return json.dumps(doc).encode()


def _slots(node: Any, parent: Any = None, key: Any = None) -> Any:
    """(parent, key) of every value in a JSON document, the root first (parent None)."""
    yield parent, key
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _slots(v, node, k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _slots(v, node, i)


def mangle_line(reply: bytes, c: Corruption) -> Mangled:
    """A SCPI reply (without its terminator) as it goes out: the bytes to send and what then."""
    at = c.cut(len(reply))
    if c.kind in ("body_truncate", "truncate"):
        return Mangled(reply[:at], "close")  # no terminator: the reader gets a partial line and EOF
    if c.kind == "reset":
        return Mangled(reply[:at], "reset")
    if c.kind in ("body_insert", "flip"):
        return Mangled(reply[:at] + c.data + reply[at:] + b"\n", "keep")
    if c.kind in ("body_replace", "retype"):
        return Mangled(c.data + b"\n", "keep")
    if c.kind == "garbage":
        return Mangled(c.data, "close")
    return Mangled(b"", "close")  # empty


def mangle_datagram(datagram: bytes, c: Corruption) -> bytes:
    """An SNMP reply datagram, damaged; b"" means it is lost."""
    at = c.cut(len(datagram))
    if c.kind in ("truncate", "body_truncate"):
        return datagram[:at]
    if c.kind == "flip":
        return datagram[:at] + bytes([datagram[at] ^ 0xFF]) + datagram[at + 1:] if datagram else datagram
    if c.kind == "body_insert":
        return datagram[:at] + c.data + datagram[at:]
    if c.kind in ("body_replace", "garbage", "retype"):
        return c.data
    return b""  # reset / empty: lost


# ---------------------------------------------------------------------------------------- HTTP (aiohttp)
def http_bytes(status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace") + body


def mangle_http(status: int, reason: str, headers: list[tuple[str, str]], body: bytes, c: Corruption) -> Mangled:
    """A whole HTTP answer as it goes out. Content kinds keep a correct Content-Length."""
    plain = [(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding", "connection")]
    if c.kind in CONTENT_KINDS:
        new = mangle_json(body, c)
        return Mangled(http_bytes(status, reason, [*plain, ("Content-Length", str(len(new)))], new), "keep")
    raw = http_bytes(status, reason, [*plain, ("Content-Length", str(len(body)))], body)
    at = c.cut(len(raw))
    if c.kind == "truncate":
        return Mangled(raw[:at], "close")
    if c.kind == "reset":
        return Mangled(raw[:at], "reset")
    if c.kind == "flip":
        return Mangled(raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1:], "close")
    if c.kind == "garbage":
        return Mangled(c.data, "close")
    return Mangled(b"", "close")  # empty


async def send_mangled(transport: asyncio.BaseTransport | None, status: int, reason: str,
                       headers: list[tuple[str, str]], body: bytes, c: Corruption) -> None:
    """Write a damaged answer straight to the connection, then close or reset it.

    The caller must not answer the request any more (aiohttp: raise an HTTPException after this;
    the transport is already closing, so nothing else reaches the client)."""
    m = mangle_http(status, reason, headers, body, c)
    if transport is None or transport.is_closing():
        return
    if m.data:
        transport.write(m.data)  # type: ignore[attr-defined]
    if m.then == "reset":
        await asyncio.sleep(0.01)  # real time (simulators never take part in the run's clock): let the bytes go
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()  # type: ignore[attr-defined]
    else:
        transport.close()


def reset_socket(sock: socket.socket) -> None:
    """Close a TCP socket with RST (SO_LINGER 0): the peer sees 'connection reset'."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
