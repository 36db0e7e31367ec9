"""GPU workloads over real SSH: the simulated hosts apply DCGM targeted power to the twin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from timeouts import ANSWERED_S

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.drivers.ssh.host import GpuWorkload, HostShell
from harness.errors import HostError, HostUnreachable
from harness.sim.physics import RackTwin
from harness.sim.ssh.hosts import HostFleet

Hosts = tuple[RackTwin, VirtualClock, HostFleet, dict[str, int]]


@pytest.fixture
def hosts(clock: VirtualClock) -> Iterator[Hosts]:
    twin = RackTwin(load_profile("mini"), clock, seed=2)
    twin.start_powered()
    fleet = HostFleet(twin, username="ops", password="s3cret-pass")
    ports = fleet.start()
    yield twin, clock, fleet, ports
    fleet.stop()


def shell(fleet: HostFleet, ports: dict[str, int], tray: str, *, password: str = "s3cret-pass",
          key: str | None = None) -> HostShell:
    # a host that is down drops the connection at once: no test here waits for this timeout
    return HostShell(tray, "127.0.0.1", ports[tray], "ops", password, host_key=key or fleet.host_key_public,
                     timeout_s=ANSWERED_S)


def test_targeted_power_loads_the_tray_and_ends_after_its_duration(hosts: Hosts) -> None:
    twin, clock, fleet, ports = hosts
    sh = shell(fleet, ports, "compute01")
    try:
        idle = twin.tray_power_w("compute01")
        GpuWorkload(sh, gpu_tdp_w=1200).targeted_power(1.0, duration_s=300)
        clock.sleep(10)
        assert twin.tray_power_w("compute01") > idle + 3500
        assert sum(GpuWorkload(sh, gpu_tdp_w=1200).gpu_power_w()) > 3000
        clock.sleep(300)
        assert twin.tray_power_w("compute01") < idle + 100
    finally:
        sh.close()


def test_stop_ends_the_load(hosts: Hosts) -> None:
    twin, _, fleet, ports = hosts
    sh = shell(fleet, ports, "compute02")
    try:
        w = GpuWorkload(sh, gpu_tdp_w=1200)
        w.targeted_power(0.5, duration_s=600)
        assert twin.trays["compute02"].utilization == pytest.approx(0.5)
        w.stop()
        assert twin.trays["compute02"].utilization == 0.0
    finally:
        sh.close()


def test_a_wrong_host_key_is_refused(hosts: Hosts) -> None:
    import asyncssh

    _, _, fleet, ports = hosts
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    sh = shell(fleet, ports, "compute01", key=other)
    with pytest.raises(HostError, match="host key"):
        sh.run("true")


def test_wrong_password_and_down_host_are_typed_errors(hosts: Hosts) -> None:
    twin, _, fleet, ports = hosts
    with pytest.raises(HostError, match="login refused"):
        shell(fleet, ports, "compute01", password="nope-nope").run("true")
    twin.host_reset("compute02", "ForceOff")
    with pytest.raises(HostUnreachable):
        shell(fleet, ports, "compute02").run("nvidia-smi --query-gpu=power.draw --format=csv,noheader,nounits")


def test_unknown_commands_fail_like_a_shell(hosts: Hosts) -> None:
    _, _, fleet, ports = hosts
    sh = shell(fleet, ports, "switch01")
    try:
        assert sh.run("frobnicate --now").exit_status == 127
        with pytest.raises(HostError, match="no GPUs"):
            GpuWorkload(sh, gpu_tdp_w=1200).targeted_power(1.0, 60)
    finally:
        sh.close()
