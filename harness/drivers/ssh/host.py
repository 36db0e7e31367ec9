"""Commands on a tray's host OS over SSH (asyncssh behind a sync facade), and the GPU workload built on it.

The host key is pinned from the station file (never trusted on first use). One asyncio loop thread
serves every host connection; each host keeps one connection, re-opened after a drop.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import asyncssh

from harness.errors import HostError, HostUnreachable

T = TypeVar("T")


class _Loop:
    """One event loop thread for all SSH connections of the process."""

    _lock = threading.Lock()
    _instance: _Loop | None = None

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="ssh-client", daemon=True)
        self.thread.start()

    @classmethod
    def get(cls) -> _Loop:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
                atexit.register(cls._instance.close)
            return cls._instance

    def run(self, coro: Awaitable[T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self.loop).result()  # type: ignore[arg-type]

    def close(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str


class HostShell:
    def __init__(self, name: str, host: str, port: int, username: str, password: str, *, host_key: str,
                 timeout_s: float = 10.0) -> None:
        self.name, self.host, self.port, self.timeout_s = name, host, port, timeout_s
        self._username, self._password = username, password
        try:
            self._host_key = asyncssh.import_public_key(host_key)
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise HostError(name, "host key", f"station file host_key is not a public key: {exc}") from None
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HostShell({self.name!r}, {self.host}:{self.port})"

    async def _connect(self) -> asyncssh.SSHClientConnection:
        return await asyncssh.connect(self.host, self.port, username=self._username, password=self._password,
                                      known_hosts=([self._host_key], [], []), client_keys=None,
                                      agent_path=None, connect_timeout=self.timeout_s)

    def run(self, command: str) -> CommandResult:
        """Run ``command``; a non-zero exit is returned, not raised (the caller knows what it means)."""
        loop = _Loop.get()
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None:
                        self._conn = loop.run(self._connect(), self.timeout_s + 1)
                    result = loop.run(self._conn.run(command, check=False), self.timeout_s)
                    if result.exit_status is None:  # killed by a signal or the channel dropped: not a success
                        raise HostError(self.name, command, f"no exit status (signal {result.exit_signal})")
                    return CommandResult(int(result.exit_status), str(result.stdout or ""), str(result.stderr or ""))
                except asyncssh.HostKeyNotVerifiable as exc:
                    raise HostError(self.name, command, f"host key does not match the station file: {exc}") from None
                except asyncssh.PermissionDenied as exc:
                    raise HostError(self.name, command, f"login refused: {exc}") from None
                except (OSError, asyncssh.Error, asyncio.TimeoutError, TimeoutError) as exc:
                    self._drop()
                    if attempt == 2 or self._conn_was_fresh(exc):
                        raise HostUnreachable(self.name, command, f"no SSH answer: {type(exc).__name__}: {exc}") from None
            raise AssertionError("unreachable")

    @staticmethod
    def _conn_was_fresh(exc: BaseException) -> bool:
        return isinstance(exc, (ConnectionRefusedError, asyncio.TimeoutError, TimeoutError))

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.abort()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                conn = self._conn
                self._conn = None
                try:
                    _Loop.get().run(self._close(conn), 5)
                except (OSError, asyncssh.Error, asyncio.TimeoutError, TimeoutError):
                    conn.abort()

    @staticmethod
    async def _close(conn: asyncssh.SSHClientConnection) -> None:
        conn.close()
        await conn.wait_closed()


class GpuWorkload:
    """DCGM targeted power on one tray's GPUs."""

    def __init__(self, shell: HostShell, *, gpu_tdp_w: float) -> None:
        self.shell, self.gpu_tdp_w = shell, gpu_tdp_w

    def targeted_power(self, fraction: float, duration_s: float) -> None:
        """Hold every GPU at ``fraction`` of its TDP for ``duration_s`` (runs in the background on the host)."""
        watts = max(0.0, min(1.0, fraction)) * self.gpu_tdp_w
        cmd = (f'dcgmi diag -r targeted_power -p "targeted_power.target_power={watts:.0f};'
               f'targeted_power.test_duration={duration_s:.0f}"')
        result = self.shell.run(cmd)
        if result.exit_status != 0:
            raise HostError(self.shell.name, cmd, f"exit {result.exit_status}: {(result.stdout + result.stderr).strip()}")

    def stop(self) -> None:
        result = self.shell.run("pkill -f dcgmi")
        if result.exit_status not in (0, 1):  # pkill: 1 = nothing to stop
            raise HostError(self.shell.name, "pkill -f dcgmi", f"exit {result.exit_status}")

    def gpu_power_w(self) -> list[float]:
        result = self.shell.run("nvidia-smi --query-gpu=power.draw --format=csv,noheader,nounits")
        try:
            return [float(line) for line in result.stdout.split()]
        except ValueError:
            raise HostError(self.shell.name, "nvidia-smi power.draw", f"unparseable: {result.stdout[:80]!r}") from None
