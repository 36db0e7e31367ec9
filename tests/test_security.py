"""The security model (docs/architecture.md, "Security"), shown by tests that could fail.

Already shown elsewhere, and not repeated here:
- TLS verification on by default, the simulator's CA passed explicitly, a wrong CA fails naming the
  BMC: tests/test_redfish_faults.py::test_https_with_the_fleet_ca, tests/test_redfish_client.py::
  test_https_is_verified;
- a read-only SNMP user or community cannot SET: tests/test_snmp_vendors.py (v3, every vendor, through
  the driver), tests/test_snmp_interop.py and tests/test_sim_process.py (net-snmp's snmpset against
  `rackval sim`), tests/test_snmp_agent.py and tests/test_snmp_pdu.py (v2c);
- a rack whose serial does not match is refused before any power action: tests/test_operator.py;
- no secret in any output: tests/test_secrets.py.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PASSWORD, ROOT, USER
from ruamel.yaml import YAML

from harness.clock import RealClock, VirtualClock
from harness.config.plan import SafeState
from harness.config.profile import load_profile
from harness.config.station import PduEndpoint, Station
from harness.drivers.redfish.client import BmcClient
from harness.errors import RedfishError, RedfishUnreachable, Refused
from harness.rack import Rack
from harness.sim.physics import RackTwin
from harness.sim.redfish.server import RedfishFleet
from harness.sim.redfish.tls import make_ca
from harness.sim.station import SimStation

CLI = [sys.executable, "-m", "harness.cli"]


# ---------------------------------------------------------------------------------------- TLS
@pytest.fixture(scope="module")
def tls_fleet() -> Iterator[RedfishFleet]:
    twin = RackTwin(load_profile("mini"), RealClock(speed=50.0), seed=2)
    twin.start_powered()
    with RedfishFleet(twin, username=USER, password=PASSWORD, tls=True) as fleet:
        yield fleet


def test_an_inherited_ca_bundle_does_not_replace_the_stations_trust(tls_fleet: RedfishFleet,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment must not make an unverified BMC trusted:
    how to trust a BMC comes from the station file only."""
    assert tls_fleet.ca_file is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_fleet.ca_file)
    monkeypatch.setenv("CURL_CA_BUNDLE", tls_fleet.ca_file)
    url = tls_fleet.endpoints["compute01"]
    client = BmcClient("compute01", url, USER, PASSWORD, clock=VirtualClock(), timeout_s=5)  # no ca_file
    with pytest.raises(RedfishError, match="TLS failure talking to BMC compute01") as exc:
        client.power_state()
    assert not isinstance(exc.value, RedfishUnreachable)  # not a transient error, not retried
    with BmcClient("compute01", url, USER, PASSWORD, clock=VirtualClock(), ca_file=tls_fleet.ca_file) as ok:
        assert ok.power_state() in ("On", "Off")


def test_a_station_with_the_wrong_ca_stops_before_any_power_action_naming_the_bmc(
        tls_fleet: RedfishFleet, tmp_path: Path) -> None:
    """Through the CLI: a station file whose ca_file did not sign the BMC's certificate. The run stops
    at the first request (identities, before the interlock and before anything is switched), with a
    message that names the BMC and says what to check."""
    other = make_ca(tmp_path / "other", "127.0.0.1", label="not the station's CA")
    secrets = tmp_path / "station.secrets.yaml"
    YAML().dump({"bmc": {"username": USER, "password": PASSWORD}}, secrets.open("w", encoding="utf-8"))
    station = tmp_path / "station.yaml"
    YAML().dump({"station_id": "tls-test", "profile": "mini", "simulated": True, "speed": 50.0,
                 "credentials_file": secrets.name,
                 "bmcs": [{"name": "compute01", "url": tls_fleet.endpoints["compute01"], "credentials": "bmc",
                           "ca_file": str(other.ca_file)}]}, station.open("w", encoding="utf-8"))
    before = tls_fleet.twin.host_state("compute01")
    # ~10 s on a quiet machine, minutes on a loaded one: the timeout only turns a hang into a failure
    out = subprocess.run([*CLI, "run", str(ROOT / "tests" / "plans" / "mini_probe.yaml"), "--station", str(station),
                          "--rack-serial", "SIM-0001", "--yes", "--out", str(tmp_path / "run"),
                          "--store", f"sqlite:///{tmp_path}/r.db"], capture_output=True, text=True, timeout=900,
                         cwd=tmp_path, stdin=subprocess.DEVNULL, check=False)
    text = " ".join(out.stderr.split())
    assert out.returncode == 3, out.stdout + out.stderr
    assert "TLS failure talking to BMC compute01" in text and "ca_file" in text, out.stderr
    assert len([ln for ln in out.stderr.splitlines() if "TLS failure" in ln]) == 1, out.stderr  # said once
    assert "Traceback" not in out.stderr
    assert tls_fleet.twin.host_state("compute01") == before
    assert not (tmp_path / "run" / "ocp.jsonl").exists()  # refused before a run was recorded


def test_the_redfish_client_never_disables_verification() -> None:
    """No code path turns certificate checking off (the DMTF library does, when given no CA file)."""
    for path in (ROOT / "harness" / "drivers").rglob("*.py"):
        code = "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
        for bad in ("verify=False", "CERT_NONE", "check_hostname = False", "_create_unverified_context"):
            assert bad not in code, f"{path}: {bad}"


# ---------------------------------------------------------------------------------------- SNMPv3
def test_the_simulated_station_file_uses_snmpv3_authpriv(tmp_path: Path) -> None:
    """What `rackval sim` writes: every PDU on SNMPv3 with an auth and a privacy protocol (v2c is
    opt-in only), the keys in the 0600 secrets file, not in the station file."""
    sim = SimStation(load_profile("mini"), clock=RealClock(speed=20.0))
    sim.start()
    try:
        secrets_path = sim.write_station_file(tmp_path / "station.yaml")
    finally:
        sim.stop()
    station = YAML(typ="safe").load((tmp_path / "station.yaml").read_text(encoding="utf-8"))
    secrets = YAML(typ="safe").load(secrets_path.read_text(encoding="utf-8"))
    assert station["pdus"] and all(p["snmp_version"] == "3" for p in station["pdus"])
    for pdu in station["pdus"]:
        cred = secrets[pdu["credentials"]]
        assert cred["auth_protocol"].startswith("SHA") and cred["priv_protocol"].startswith("AES"), cred
        assert len(cred["auth_key"]) >= 8 and len(cred["priv_key"]) >= 8
        assert cred["auth_key"] not in (tmp_path / "station.yaml").read_text(encoding="utf-8")
    assert secrets_path.stat().st_mode & 0o077 == 0
    assert PduEndpoint.model_fields["snmp_version"].default == "3"  # a hand-written station gets v3 too


# ---------------------------------------------------------------------------------------- bind addresses
def _own_listeners() -> set[tuple[str, str, int]]:
    """(protocol, address, port) of every listening TCP and unconnected UDP socket this process owns."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs Linux /proc")
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for proto, listen_state in (("tcp", "0A"), ("udp", "07"), ("tcp6", "0A"), ("udp6", "07")):
        table = Path(f"/proc/net/{proto}")
        if not table.exists():
            continue
        for row in table.read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] != listen_state or cols[9] not in inodes:
                continue
            addr_hex, port_hex = cols[1].split(":")
            if len(addr_hex) == 8:
                addr = socket.inet_ntoa(struct.pack("<I", int(addr_hex, 16)))
            else:
                addr = socket.inet_ntop(socket.AF_INET6, b"".join(
                    struct.pack("<I", int(addr_hex[i:i + 8], 16)) for i in range(0, 32, 8)))
            found.add((proto.rstrip("6"), addr, int(port_hex, 16)))
    return found


@pytest.mark.parametrize("host", [None, "127.0.0.2"], ids=["default", "told-otherwise"])
def test_every_simulator_binds_to_loopback_unless_told_otherwise(host: str | None) -> None:
    """Redfish, SNMP, SCPI and SSH simulators all bind 127.0.0.1 by default; ``host=`` (SimStation and
    each simulator class) is the explicit option to bind elsewhere. Every new listening socket counts,
    not only the ones the station file names."""
    before = _own_listeners()
    kwargs = {} if host is None else {"host": host}
    sim = SimStation(load_profile("mini"), clock=RealClock(speed=20.0), **kwargs)
    st = sim.start()
    try:
        new = _own_listeners() - before
    finally:
        sim.stop()
    want = host or "127.0.0.1"
    ports = {int(b.url.rsplit(":", 1)[1]) for b in st.bmcs}
    ports |= {p.port for p in st.pdus} | {h.port for h in st.hosts}
    ports |= {int(i.resource.split("::")[2]) for i in st.instruments}
    kinds = {("tcp", int(b.url.rsplit(":", 1)[1])) for b in st.bmcs} | {("udp", p.port) for p in st.pdus}
    kinds |= {("tcp", h.port) for h in st.hosts} | {("tcp", int(i.resource.split("::")[2])) for i in st.instruments}
    assert st.bmcs and st.pdus and st.hosts and st.instruments  # all four kinds were started
    assert {(proto, port) for proto, _, port in new} >= kinds, (sorted(new), sorted(kinds))
    wrong = sorted(s for s in new if s[1] != want)
    assert not wrong, f"bound elsewhere than {want}: {wrong}"
    assert all(f"//{want}:" in b.url for b in st.bmcs) and all(p.host == want for p in st.pdus)


# ---------------------------------------------------------------------------------------- undeclared endpoints
@pytest.fixture
def partial_rack() -> Iterator[tuple[Rack, SimStation]]:
    """A rack whose station file declares compute01 and switch01 but not compute02, and PDU outlets
    1-3 but not 4-8, on a simulated rack that has them all."""
    clock = VirtualClock()
    sim = SimStation(load_profile("mini"), clock=clock, seed=9)
    full = sim.start()
    pdu = full.pdus[0]
    station = Station.model_validate({
        **full.model_dump(exclude={"bmcs", "pdus", "hosts"}),
        "bmcs": [b.model_dump() for b in full.bmcs if b.name != "compute02"],
        "pdus": [{**pdu.model_dump(), "outlets": {n: f for n, f in pdu.outlets.items() if n <= 3}}],
        "hosts": [h.model_dump() for h in full.hosts if h.name != "compute02"]})
    rack = Rack(station, sim.profile, sim.credentials(), clock, policy=SafeState(hosts="off", outlets="on"))
    rack.connect()
    try:
        yield rack, sim
    finally:
        rack.close()
        sim.stop()


def test_power_actions_on_undeclared_endpoints_are_refused_and_never_sent(
        partial_rack: tuple[Rack, SimStation]) -> None:
    rack, sim = partial_rack
    agent = sim.agents[0]
    sets = agent.requests["set"]
    outlets = [sim.twin.outlet_is_on("pdu1", n) for n in range(1, 9)]
    for pdu, outlet in (("pdu1", 4), ("pdu1", 8), ("pdu9", 1)):
        with pytest.raises(Refused, match="not declared in the station file"):
            rack.feeds.set_outlet(pdu, outlet, False)
    for action in (lambda: rack.hosts.reset("compute02", "ForceOff"), lambda: rack.hosts.set_power_limit("compute02", 500.0),
                   lambda: rack.bmc("compute02", lambda c: c.reset("ForceOff"))):
        with pytest.raises(Refused, match="'compute02' is not declared"):
            action()
    with pytest.raises(Refused, match="no outlet in the station file feeds shelf1.psu5"):
        rack.feeds.outlet_for("shelf1.psu5")
    assert agent.requests["set"] == sets  # nothing reached the PDU
    assert [sim.twin.outlet_is_on("pdu1", n) for n in range(1, 9)] == outlets
    assert sim.twin.host_state("compute02") == "On"


def test_rack_wide_actions_and_the_safe_state_touch_only_what_is_declared(
        partial_rack: tuple[Rack, SimStation]) -> None:
    rack, sim = partial_rack
    twin = sim.twin
    undeclared = [twin.outlet_is_on("pdu1", n) for n in range(4, 9)]
    assert any(undeclared)
    rack.feeds.all_off()  # every *declared* feed
    assert [twin.outlet_is_on("pdu1", n) for n in range(1, 9)] == [False] * 3 + undeclared
    rack.feeds.all_on(stagger_s=0.0)
    report = rack.safe_state()  # hosts Off: the declared trays only
    assert report.ok, report
    assert twin.host_state("compute01") == "Off" and twin.host_state("switch01") == "Off"
    assert twin.host_state("compute02") == "On"  # undeclared: never switched
