"""The nvl72 topology: tray BMCs plus a rack manager with the Rack chassis, power shelves and CDU,
read over real HTTP with the harness client (discovery by links only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import PASSWORD, USER

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.drivers.redfish.client import BmcClient
from harness.drivers.redfish.equipment import cdu_status, inventory, power_shelves, rack_serial
from harness.errors import RedfishError
from harness.sim.physics import RackTwin
from harness.sim.redfish.server import RACK_MANAGER, RedfishFleet


# The nvl72 rack, set up once for the module (the tests read it; the two that fault it undo the fault).
@pytest.fixture(scope="module")
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture(scope="module")
def twin(clock: VirtualClock) -> RackTwin:
    t = RackTwin(load_profile("nvl72"), clock, serial="SIM-NVL-7")
    t.start_powered()
    return t


@pytest.fixture(scope="module")
def fleet(twin: RackTwin) -> Iterator[RedfishFleet]:
    with RedfishFleet(twin, username=USER, password=PASSWORD) as f:
        yield f


@pytest.fixture
def rackmgr(fleet: RedfishFleet, clock: VirtualClock) -> Iterator[BmcClient]:
    with BmcClient(RACK_MANAGER, fleet.endpoints[RACK_MANAGER], USER, PASSWORD, clock=clock) as c:
        yield c


def test_nvl72_endpoints_and_roles(fleet: RedfishFleet, twin: RackTwin) -> None:
    eps = fleet.endpoints
    assert len(eps) == 27 + 1 and RACK_MANAGER in eps
    roles = fleet.roles
    assert sum(r == "compute_tray" for r in roles.values()) == 18
    assert sum(r == "switch_tray" for r in roles.values()) == 9
    assert roles[RACK_MANAGER] == "rack_manager"
    assert fleet.ca_file is None and all(u.startswith("http://") for u in eps.values())


def test_small_rack_has_no_rack_manager_unless_asked() -> None:
    twin = RackTwin(load_profile("mini"), VirtualClock())
    assert not RedfishFleet(twin, username=USER, password=PASSWORD).rack_manager
    assert RedfishFleet(twin, username=USER, password=PASSWORD, rack_manager=True).rack_manager


def test_rack_chassis_contains_everything(rackmgr: BmcClient, twin: RackTwin) -> None:
    assert rack_serial(rackmgr) == "SIM-NVL-7" == twin.serial
    ident = rackmgr.identity()  # no Systems on a rack manager: the Rack chassis is used
    assert ident["serial_number"] == "SIM-NVL-7" and ident["system_uri"] == ""
    rack = rackmgr.get_json(ident["chassis_uri"])
    contained = {c["@odata.id"].rsplit("/", 1)[1] for c in rack["Links"]["Contains"]}
    assert set(twin.trays) <= contained
    assert {f"shelf{n}" for n in range(1, 9)} <= contained and "CDU1" in contained
    tray = rackmgr.get_json("/redfish/v1/Chassis/compute07")
    assert tray["SerialNumber"] == twin.serial_of("compute07")
    assert tray["Links"]["ContainedBy"]["@odata.id"] == ident["chassis_uri"]


def test_rack_manager_is_not_a_tray(rackmgr: BmcClient) -> None:
    with pytest.raises(RedfishError, match="no Systems"):
        rackmgr.power_state()
    with pytest.raises(RedfishError):
        rackmgr.reset("On")


def test_power_shelves_follow_the_twin(rackmgr: BmcClient, twin: RackTwin) -> None:
    shelves = power_shelves(rackmgr)
    assert [s.name for s in shelves] == [f"Power shelf{n}" for n in range(1, 9)]
    assert all(len(s.psus) == 6 for s in shelves)
    psu = shelves[0].psus[2]
    expected = twin.psu_reading("shelf1.psu3")
    assert psu.output_w == pytest.approx(expected["output_w"], abs=0.01)
    assert psu.input_w == pytest.approx(expected["input_w"], abs=0.01)
    assert psu.output_v == pytest.approx(expected["output_v"], abs=0.01)
    assert psu.health == "OK" and psu.line_input == "Normal"
    total = sum(twin.psu_reading(f"shelf1.psu{i}")["input_w"] for i in range(1, 7))
    assert shelves[0].input_w == pytest.approx(total, abs=0.05)
    twin.fail_psu("shelf2.psu1")
    try:
        failed = power_shelves(rackmgr)[1]
        assert failed.health == "Critical" and failed.psus[0].health == "Critical"
        assert failed.psus[0].output_w == 0.0
    finally:
        twin.fail_psu("shelf2.psu1", False)


def test_cdu_follows_the_twin(rackmgr: BmcClient, twin: RackTwin) -> None:
    cdu = cdu_status(rackmgr)
    assert cdu is not None
    c = twin.coolant()
    assert cdu.supply_c == pytest.approx(c["supply_c"], abs=0.01)
    assert cdu.return_c == pytest.approx(c["return_c"], abs=0.01)
    assert cdu.flow_lpm == pytest.approx(c["flow_lpm"], abs=0.01)
    assert cdu.supply_kpa == pytest.approx(c["supply_pressure_kpa"], abs=0.01)
    assert set(cdu.pumps) == {"pump1", "pump2"} and all(v == pytest.approx(60.0) for v in cdu.pumps.values())
    assert len(cdu.leaks) == 1 + 18 and set(cdu.leaks.values()) == {"OK"}
    twin.set_leak("compute03.coldplate", "Critical")
    try:
        cdu = cdu_status(rackmgr)
        assert cdu is not None and cdu.leaks["compute03.coldplate"] == "Critical" and cdu.health == "Critical"
    finally:
        twin.set_leak("compute03.coldplate", "OK")


def test_inventory_for_traceability(fleet: RedfishFleet, rackmgr: BmcClient, twin: RackTwin,
                                    clock: VirtualClock) -> None:
    items = inventory(rackmgr)
    psus = [i for i in items if i.kind == "psu"]
    assert len(psus) == 48 and all(i.serial and i.part_number and i.firmware for i in psus)
    assert {i.serial for i in psus} == {twin.serial_of(p) for p in twin.psus}
    with BmcClient("compute01", fleet.endpoints["compute01"], USER, PASSWORD, clock=clock) as tray:
        tray_items = inventory(tray)
    gpus = [i for i in tray_items if i.kind == "gpu"]
    assert [g.serial for g in gpus] == [twin.serial_of(f"compute01.gpu{n}") for n in range(4)]
    assert any(i.kind == "manager" and i.firmware == twin.firmware_of("compute01") for i in tray_items)


def test_tray_without_power_equipment_is_not_available(fleet: RedfishFleet, clock: VirtualClock) -> None:
    with BmcClient("switch01", fleet.endpoints["switch01"], USER, PASSWORD, clock=clock) as sw:
        assert power_shelves(sw) == [] and cdu_status(sw) is None and rack_serial(sw) is None
