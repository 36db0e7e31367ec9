"""net-snmp's own tools (snmpwalk / snmpget / snmpset, v2c and v3 authPriv) against every vendor
personality: an independent client, so the agent cannot agree with our driver by sharing its bugs."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.sim.physics import RackTwin
from harness.sim.snmp.agent import PduAgent, V3User

pytestmark = pytest.mark.skipif(shutil.which("snmpwalk") is None,
                                reason="net-snmp tools are not installed (apt-get install snmp)")
VENDORS = ["apc_rpdu2", "raritan_pdu2", "sentry4", "eaton_epdu"]
RO = V3User("poller", "authpass-ro1", "privpass-ro1", "SHA", "AES", write=False)
CTL = V3User("control", "authpass-ctl", "privpass-ctl", "SHA", "AES", write=True)
ROOTS = {"apc_rpdu2": "1.3.6.1.4.1.318.1.1.26", "raritan_pdu2": "1.3.6.1.4.1.13742.6",
         "sentry4": "1.3.6.1.4.1.1718.4.1", "eaton_epdu": "1.3.6.1.4.1.534.6.6.7"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """One net-snmp command. Every request here is answered (an error is an answer too), so its timeout
    is generous: only a hang would reach it."""
    return subprocess.run([args[0], "-On", "-t", "10", "-r", "0", *args[1:]],
                          check=False, capture_output=True, text=True, timeout=60)


def v3(user: V3User) -> list[str]:
    return ["-v3", "-l", "authPriv", "-u", user.name, "-a", user.auth_protocol, "-A", user.auth_key,
            "-x", user.priv_protocol, "-X", user.priv_key]


@pytest.fixture(params=VENDORS)
def rig(request: pytest.FixtureRequest, clock: VirtualClock) -> Iterator[tuple[RackTwin, PduAgent, str]]:
    prof = load_profile("mini")
    prof = prof.model_copy(update={"pdus": [prof.pdus[0].model_copy(update={"vendor": request.param})]})
    twin = RackTwin(prof, clock)
    twin.start_powered()
    with PduAgent(twin, "pdu1", v3_users=[RO, CTL]) as agent:
        yield twin, agent, f"127.0.0.1:{agent.port}"


def test_snmpwalk_shows_the_vendor_tree(rig: tuple[RackTwin, PduAgent, str]) -> None:
    _, agent, addr = rig
    vm = agent.vmap
    out = run("snmpwalk", "-v2c", "-c", "public", addr, ROOTS[vm.vendor])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) >= 8 * 4 and all(line.startswith("." + ROOTS[vm.vendor]) for line in lines)
    state = {line.split(" = ")[0].lstrip("."): line.split(" = ")[1] for line in lines}
    assert state[vm.outlet.state.oid_for(outlet=1)].endswith(str(vm.outlet.state.raw_of("on")))
    assert state[vm.outlet.state.oid_for(outlet=8)].endswith(str(vm.outlet.state.raw_of("off")))
    sysoid = run("snmpget", "-v2c", "-c", "public", addr, "1.3.6.1.2.1.1.2.0")
    assert sysoid.stdout.strip().endswith("." + vm.sim.sys_object_id)
    v3walk = run("snmpwalk", *v3(RO), addr, vm.device.phase_current_a.oid)
    rows = v3walk.stdout.splitlines()  # 3 phases (Raritan: x 3 sensor types in one column)
    assert v3walk.returncode == 0 and len(rows) in (3, 9)


def test_snmpset_of_every_feed_takes_the_power_away(rig: tuple[RackTwin, PduAgent, str]) -> None:
    twin, agent, addr = rig
    control = agent.vmap.outlet.control
    feeds = sorted(twin.pdu_specs["pdu1"].feeds)
    assert twin.bmc_state("compute01") == "Ready" and twin.tray_power_w("compute01") > 0
    for n in feeds:
        oid, raw = control.set_for("off", n)
        out = run("snmpset", *v3(CTL), addr, oid, "i", str(raw))
        assert out.returncode == 0, out.stderr
    assert not any(twin.outlet_is_on("pdu1", n) for n in feeds)
    assert twin.psu_reading("shelf1.psu1")["ac_ok"] == 0.0
    assert twin.bmc_state("compute01") == "Down" and twin.tray_power_w("compute01") == 0.0


def test_read_only_v3_user_cannot_set_but_control_user_can(rig: tuple[RackTwin, PduAgent, str]) -> None:
    twin, agent, addr = rig
    oid, raw = agent.vmap.outlet.control.set_for("off", 1)
    denied = run("snmpset", *v3(RO), addr, oid, "i", str(raw))
    assert denied.returncode != 0 and ("noAccess" in denied.stderr + denied.stdout
                                       or "authorization" in (denied.stderr + denied.stdout).lower())
    assert twin.outlet_is_on("pdu1", 1)
    denied = run("snmpset", "-v2c", "-c", "public", addr, oid, "i", str(raw))
    assert denied.returncode != 0 and twin.outlet_is_on("pdu1", 1)
    ok = run("snmpset", *v3(CTL), addr, oid, "i", str(raw))
    assert ok.returncode == 0 and not twin.outlet_is_on("pdu1", 1)
    wrong_key = run("snmpget", "-v3", "-l", "authPriv", "-u", CTL.name, "-a", "SHA", "-A", "wrongpass1",
                    "-x", "AES", "-X", CTL.priv_key, addr, "1.3.6.1.2.1.1.1.0")
    assert wrong_key.returncode != 0


def test_restart_shows_new_engine_boots(rig: tuple[RackTwin, PduAgent, str]) -> None:
    _, agent, addr = rig
    boots = run("snmpget", *v3(RO), "-Oqv", addr, "1.3.6.1.6.3.10.2.1.2.0")
    assert boots.stdout.strip() == "1"
    agent.restart()
    boots = run("snmpget", *v3(RO), "-Oqv", addr, "1.3.6.1.6.3.10.2.1.2.0")
    assert boots.returncode == 0 and boots.stdout.strip() == "2"
