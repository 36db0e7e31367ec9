"""Seeded randomness as pure functions, so a simulated run is reproducible whoever reads first.

Measurement noise is a function of (seed, source, simulated time) and delays or serial numbers are
a function of (seed, name): no generator state, hence no dependence on the order of reads.
"""

from __future__ import annotations

import hashlib
import math
import struct


def noise(seed: int, source: str, t: float) -> float:
    """Standard normal deviate as a pure function of (seed, source, simulated time)."""
    digest = hashlib.blake2b(f"{seed}|{source}|{t:.3f}".encode(), digest_size=16).digest()
    a, b = struct.unpack("<QQ", digest)
    u1 = (a + 1) / (2**64 + 1)
    u2 = b / 2**64
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)


def uniform(seed: int, source: str, lo: float, hi: float) -> float:
    """A seeded draw in [lo, hi] named by ``source`` (delays, serial numbers)."""
    digest = hashlib.blake2b(f"{seed}|{source}".encode(), digest_size=8).digest()
    return lo + (hi - lo) * (struct.unpack("<Q", digest)[0] / 2**64)
