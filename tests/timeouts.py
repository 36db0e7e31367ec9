"""Driver timeouts in rackval's own tests, named by what the test needs of them, never a wall-clock margin.

* ``ANSWERED_*``: the device answers. The timeout only turns a hang into a failure, so it is far beyond
  any local round trip on a busy machine (a busy machine makes the answer later, never missing).
* ``NEVER_*``: the device never answers (a black hole, a lost datagram, a connection closed at accept,
  an undefined query). The timeout must expire whatever the machine does, so it may be short.

A test that needs both on one link sets the link's timeout per phase (``ScpiLink.timeout_ms``).
"""

from __future__ import annotations

ANSWERED_S = 10.0
ANSWERED_MS = 10_000
NEVER_S = 0.2
NEVER_MS = 300
