"""A small SCPI command-tree matcher, so simulated instruments parse like real ones.

Each command is declared once in the manual's notation: its long form with the short form in
upper case (``CURRent:STATic:L#?``), ``[...]`` around optional nodes (``SYSTem:ERRor[:NEXT]?``),
``#`` for a numeric suffix (omitted -> 1), a trailing ``?`` for the query form. A received header
then matches in short or long form, in any case, with or without the leading colon. A personality
(eload, power analyzer, ...) is a table of such declarations; the parser knows no instrument.

Also here: splitting a program message into units (``;``), a unit into header and parameters, and
the SCPI errors a handler raises (:class:`ScpiFault`), so every personality reports them alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

H = TypeVar("H")

#: SCPI-99 / IEEE 488.2 error texts the simulators use.
ERROR_TEXT: dict[int, str] = {
    0: "No error",
    -100: "Command error",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -114: "Header suffix out of range",
    -200: "Execution error",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -350: "Queue overflow",
    -363: "Input buffer overrun",
    # device-specific (positive) codes the simulators use
    301: "Protection tripped",
}


class ScpiFault(Exception):
    """An SCPI error a simulated instrument queues (and flags in the ESR) instead of answering."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.text = ERROR_TEXT.get(code, "Error")
        self.detail = detail
        super().__init__(self.entry)

    @property
    def entry(self) -> str:
        """The error-queue entry as ``SYST:ERR?`` returns it: ``-222,"Data out of range; ..."``."""
        text = f"{self.text}; {self.detail}" if self.detail else self.text
        text = "".join(c if c.isprintable() and c != '"' else "'" for c in text)
        return f'{self.code},"{text}"'


@dataclass(frozen=True)
class Node:
    """One header node: both spellings, whether it may be left out, whether it takes a suffix."""

    long: str
    short: str
    optional: bool
    suffix: bool

    def accepts(self, token: str) -> int | None:
        """The numeric suffix (1 when omitted, 0 when the node takes none) if ``token`` names this node."""
        if self.suffix:
            m = re.fullmatch(r"([A-Z*]+)([0-9]*)", token)
            if not m or m.group(1) not in (self.short, self.long):
                return None
            return int(m.group(2)) if m.group(2) else 1
        return 0 if token in (self.short, self.long) else None


def _node(token: str, optional: bool) -> Node:
    suffix = token.endswith("#")
    name = token.rstrip("#")
    if not re.fullmatch(r"\*?[A-Za-z][A-Za-z0-9]*", name):
        raise ValueError(f"bad SCPI node {token!r}")
    short = "".join(c for c in name if c.isupper() or c.isdigit() or c == "*")
    return Node(long=name.upper(), short=short or name.upper(), optional=optional, suffix=suffix)


def parse_pattern(pattern: str) -> tuple[tuple[Node, ...], bool]:
    """``"[SOURce:]CURRent:STATic:L#?"`` -> (nodes, is_query)."""
    text = pattern.strip()
    query = text.endswith("?")
    text = text.rstrip("?").lstrip(":")
    text = text.replace("[:", ":[").replace(":]", "]:")
    nodes = []
    for token in filter(None, text.split(":")):
        optional = token.startswith("[") and token.endswith("]")
        nodes.append(_node(token.strip("[]"), optional))
    if not nodes or all(n.optional for n in nodes):
        raise ValueError(f"SCPI pattern {pattern!r} has no mandatory node")
    return tuple(nodes), query


def _match_nodes(nodes: Sequence[Node], tokens: Sequence[str]) -> list[int] | None:
    """Suffixes of each *pattern* node (0 if skipped or suffix-less) when the tokens fit, else None."""
    if not nodes:
        return [] if not tokens else None
    head, rest = nodes[0], nodes[1:]
    if tokens:
        suffix = head.accepts(tokens[0])
        if suffix is not None:
            tail = _match_nodes(rest, tokens[1:])
            if tail is not None:
                return [suffix, *tail]
    if head.optional:
        tail = _match_nodes(rest, tokens)
        if tail is not None:
            return [0, *tail]
    return None


@dataclass(frozen=True)
class Match(Generic[H]):
    """A header resolved to its declaration: the handler, the suffixes of the suffix nodes in order."""

    handler: H
    pattern: str
    suffixes: tuple[int, ...]
    path: tuple[str, ...]  # received tokens minus the leaf: the compound-message path afterwards


@dataclass(frozen=True)
class _Entry(Generic[H]):
    pattern: str
    nodes: tuple[Node, ...]
    query: bool
    handler: H


class CommandTree(Generic[H]):
    """Declared commands, looked up by a received header (any case, short or long form)."""

    def __init__(self) -> None:
        self._entries: list[_Entry[H]] = []

    def add(self, pattern: str, handler: H) -> None:
        nodes, query = parse_pattern(pattern)
        self._entries.append(_Entry(pattern, nodes, query, handler))

    def patterns(self) -> list[str]:
        return [e.pattern for e in self._entries]

    def lookup(self, header: str, path: Sequence[str] = ()) -> Match[H] | None:
        """Resolve ``header``. Without a leading colon it is tried under ``path`` first (IEEE 488.2
        compound rule: ``:NUM:NORM:ITEM1 U,1;ITEM2 I,1``), then from the root as lenient
        instruments do."""
        text = header.strip().upper()
        query = text.endswith("?")
        text = text[:-1] if query else text
        absolute = text.startswith((":", "*"))
        tokens = [t for t in text.lstrip(":").split(":")]
        if not tokens or any(not t for t in tokens):
            return None
        attempts = [tokens] if absolute or not path else [[*path, *tokens], tokens]
        for toks in attempts:
            for entry in self._entries:
                if entry.query != query:
                    continue
                suffixes = _match_nodes(entry.nodes, toks)
                if suffixes is not None:
                    picked = tuple(s for n, s in zip(entry.nodes, suffixes) if n.suffix)
                    new_path = tuple(toks[:-1]) if not toks[0].startswith("*") else tuple(path)
                    return Match(entry.handler, entry.pattern, picked, new_path)
        return None


# ---------------------------------------------------------------------------------- message syntax
def split_units(message: str) -> list[str]:
    """Split a program message on ``;`` outside quoted strings; empty units are dropped."""
    units, buf, quote = [], [], ""
    for ch in message:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            buf.append(ch)
        elif ch == ";":
            units.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    units.append("".join(buf))
    return [u.strip() for u in units if u.strip()]


def split_unit(unit: str) -> tuple[str, list[str]]:
    """``"CURR:STAT:L1 12.5"`` -> (``"CURR:STAT:L1"``, [``"12.5"``]); parameters split on commas."""
    parts = unit.strip().split(None, 1)
    header = parts[0] if parts else ""
    if len(parts) < 2:
        return header, []
    args, buf, quote, depth = [], [], "", 0
    for ch in parts[1]:
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            buf.append(ch)
        elif ch == "(":  # a channel list "(@101,103)" is one parameter
            depth += 1
            buf.append(ch)
        elif ch == ")":
            depth = max(0, depth - 1)
            buf.append(ch)
        elif ch == "," and not depth:
            args.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
    args.append("".join(buf).strip())
    return header, args


def channel_list(text: str, valid: Callable[[int], bool] | None = None) -> list[int]:
    """``(@101:104,106)`` -> [101, 102, 103, 104, 106] (Keysight channel-list syntax, ranges
    ascending within one slot). -224 for bad syntax, a channel ``valid`` refuses, or a range across slots."""
    m = re.fullmatch(r"\(\s*@\s*([0-9:,\s]+)\)", text.strip())
    if not m:
        raise ScpiFault(-224, f"not a channel list: {text[:30]!r}")
    channels: list[int] = []
    for part in m.group(1).split(","):
        ends = [e.strip() for e in part.split(":")]
        if not 1 <= len(ends) <= 2 or not all(e.isdigit() and len(e) <= 5 for e in ends):
            raise ScpiFault(-224, f"bad channel range {part.strip()[:20]!r}")
        lo, hi = int(ends[0]), int(ends[-1])
        if hi < lo or lo // 100 != hi // 100:
            raise ScpiFault(-224, f"bad channel range {part.strip()[:20]!r}")
        for ch in range(lo, hi + 1):
            if valid is not None and not valid(ch):
                raise ScpiFault(-224, f"no channel {ch}")
            if ch not in channels:
                channels.append(ch)
    return channels



_NRF = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def number(text: str, lo: float, hi: float) -> float:
    """An NRf parameter (or MINimum/MAXimum) in [lo, hi]: -104 if not a number, -222 if outside."""
    word = text.strip().upper()
    if word in ("MIN", "MINIMUM"):
        return lo
    if word in ("MAX", "MAXIMUM"):
        return hi
    if not _NRF.fullmatch(word):
        raise ScpiFault(-104, f"not a number: {text[:20]!r}")
    value = float(word)
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ScpiFault(-222, f"{text} outside {lo:g}..{hi:g}")
    return value


def boolean(text: str) -> bool:
    """ON|OFF|1|0 (SCPI booleans)."""
    word = text.strip().upper()
    if word in ("ON", "1"):
        return True
    if word in ("OFF", "0"):
        return False
    raise ScpiFault(-224, f"expected ON|OFF, got {text[:20]!r}")


def choice(text: str, options: Sequence[str]) -> str:
    """A character parameter given in the manual's notation (``ASCii``); returns the long form."""
    word = text.strip().upper()
    for option in options:
        node = _node(option, optional=False)
        if word in (node.short, node.long):
            return node.long
    raise ScpiFault(-224, f"{text[:20]!r} is not one of {'|'.join(options)}")

