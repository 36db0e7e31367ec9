"""Simulated tray host operating systems over real SSH (asyncssh), one listener per tray on 127.0.0.1.

They answer the few commands the harness runs on a host: DCGM's targeted-power diagnostic, which
sets the tray's GPU load in the twin (the simulated host runs it in the background, as
``dcgmi diag ... &`` would, and the load ends after ``test_duration`` simulated seconds), a stop,
and ``nvidia-smi`` power readings. A host whose OS is not running refuses the session.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import threading
from collections.abc import Callable

import asyncssh

from harness.sim.physics import RackTwin

TARGET = re.compile(r"targeted_power\.target_power=([0-9.]+)")
DURATION = re.compile(r"targeted_power\.test_duration=([0-9.]+)")


class _Server(asyncssh.SSHServer):
    def __init__(self, fleet: HostFleet, tray: str) -> None:
        self.fleet, self.tray = fleet, tray

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        if not self.fleet.twin.host_os_running(self.tray):
            conn.abort()  # no OS, no sshd: the client sees the connection drop

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self.fleet.username and password == self.fleet.password


class HostFleet:
    def __init__(self, twin: RackTwin, *, username: str, password: str, host: str = "127.0.0.1") -> None:
        self.twin, self.username, self.password, self.host = twin, username, password, host
        self._key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_key_public = self._key.export_public_key().decode().strip()
        self.ports: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncssh.SSHAcceptor] = []
        self._workload_gen: dict[str, int] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> dict[str, int]:
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(loop, ready), name="sim-ssh-hosts", daemon=True)
        self._thread.start()
        ready.wait(30)
        fut = asyncio.run_coroutine_threadsafe(self._listen(), loop)
        fut.result(30)
        return dict(self.ports)

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    async def _listen(self) -> None:
        for tray in self.twin.trays:
            acceptor = await asyncssh.create_server(
                lambda tray=tray: _Server(self, tray), self.host, 0, server_host_keys=[self._key],
                process_factory=lambda proc, tray=tray: self._serve(proc, tray))
            self._servers.append(acceptor)
            self.ports[tray] = acceptor.sockets[0].getsockname()[1]

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def close() -> None:
            for acceptor in self._servers:
                acceptor.close()
                await acceptor.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(30)
        loop.close()
        self._loop = None

    # ------------------------------------------------------------------ commands
    def _serve(self, process: asyncssh.SSHServerProcess, tray: str) -> None:
        status, out = self.execute(tray, process.command or "")
        process.stdout.write(out)
        process.exit(status)

    def execute(self, tray: str, command: str) -> tuple[int, str]:
        """Run one host command against the twin: (exit status, output)."""
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            return 2, f"sh: syntax error: {exc}\n"
        if argv[:2] == ["dcgmi", "diag"] and "targeted_power" in command:
            return self._targeted_power(tray, command)
        if argv[:2] == ["pkill", "-f"] and len(argv) == 3 and "dcgmi" in argv[2]:
            self._set_load(tray, None)
            return 0, ""
        if argv and argv[0] == "nvidia-smi" and "--query-gpu=power.draw" in command:
            spec = self.twin.trays[tray].spec
            gpus = max(1, spec.gpus)
            per_gpu = max(0.0, self.twin.tray_power_w(tray) - spec.idle_w * 0.5) / gpus
            return 0, "".join(f"{per_gpu:.2f}\n" for _ in range(gpus))
        return 127, f"sh: {argv[0] if argv else ''}: command not found\n"

    def _targeted_power(self, tray: str, command: str) -> tuple[int, str]:
        target = TARGET.search(command)
        if target is None:
            return 1, "Error: targeted_power.target_power is required\n"
        spec = self.twin.trays[tray].spec
        if spec.gpus == 0:
            return 1, "Error: no GPUs found\n"
        watts_per_gpu = float(target.group(1))
        match = DURATION.search(command)
        duration = float(match.group(1)) if match else 120.0  # DCGM's default test duration
        self._set_load(tray, watts_per_gpu, duration)
        return 0, (f"Successfully started targeted_power on {spec.gpus} GPUs: target {watts_per_gpu:g} W per GPU "
                   f"for {duration:g} s\n")

    def _set_load(self, tray: str, watts_per_gpu: float | None, duration: float = 0.0) -> None:
        spec = self.twin.trays[tray].spec
        gen = self._workload_gen[tray] = self._workload_gen.get(tray, 0) + 1
        if watts_per_gpu is None:
            self.twin.set_utilization(tray, 0.0)
            return
        self.twin.set_utilization(tray, min(1.0, watts_per_gpu / spec.gpu_tdp_w))
        end: Callable[[], None] = lambda: self._end(tray, gen)  # noqa: E731
        self.twin.after(duration, end)

    def _end(self, tray: str, gen: int) -> None:
        if self._workload_gen.get(tray) == gen:  # not superseded by a newer command
            self.twin.trays[tray].utilization = 0.0
