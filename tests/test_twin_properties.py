"""Properties of the rack twin that every simulator relies on."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.sim.physics import RackTwin, noise

MINI = load_profile("mini")


def powered_twin(seed: int = 0) -> tuple[RackTwin, VirtualClock]:
    clock = VirtualClock()
    twin = RackTwin(MINI, clock, seed=seed)
    twin.start_powered()
    return twin, clock


@settings(max_examples=60, deadline=None)
@given(util=st.floats(0, 1), amps=st.floats(0, 400), failed=st.sets(st.integers(1, 5), max_size=3))
def test_ac_input_is_never_below_dc_output(util: float, amps: float, failed: set[int]) -> None:
    twin, clock = powered_twin()
    for tray in twin.trays:
        twin.set_utilization(tray, util)
    twin.set_eload(current_a=amps, input_on=True)
    for i in failed:
        twin.fail_psu(f"shelf1.psu{i}")
    clock.sleep(30)
    twin.state_snapshot()  # process every transition up to now before reading the noise-free model
    for psu in twin.psus:
        r = twin.electrical.psu_input_w(psu), twin.electrical.psu_output_w(psu)  # the noise-free model
        assert r[0] >= r[1]
    ac = sum(twin.electrical.outlet_power_w("pdu1", n) for n in range(1, 9))
    assert ac >= twin.rack_dc_power_w()


@settings(max_examples=40, deadline=None)
@given(low=st.floats(0, 1), high=st.floats(0, 1))
def test_more_load_never_lowers_a_steady_state_temperature(low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    temps = []
    for util in (low, high):
        twin, clock = powered_twin()
        twin.set_utilization("compute01", util)
        clock.sleep(600)  # many time constants: steady state
        temps.append((twin.electrical.tray_power_w(twin.trays["compute01"]),
                      twin.trays["compute01"].temp.at(clock.now()), twin.coolant_return.at(clock.now())))
    assert temps[1][1] >= temps[0][1] - 1e-9
    assert temps[1][2] >= temps[0][2] - 1e-9


def readings(seed: int, order: list[str]) -> dict[str, object]:
    twin, clock = powered_twin(seed)
    twin.set_utilization("compute02", 0.7)
    twin.set_eload(current_a=120, input_on=True)
    clock.sleep(17.25)
    out: dict[str, object] = {}
    for what in order:  # asking in a different order must not change any value
        if what == "power":
            out[what] = [twin.tray_power_w(t) for t in twin.trays]
        elif what == "temps":
            out[what] = [twin.tray_temperatures_c(t) for t in twin.trays]
        elif what == "outlets":
            out[what] = [twin.outlet_power_w("pdu1", n) for n in range(1, 9)]
        elif what == "analyzer":
            out[what] = twin.analyzer_reading("pdu1")
    return out


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), order=st.permutations(["power", "temps", "outlets", "analyzer"]))
def test_identical_seed_gives_identical_readings(seed: int, order: list[str]) -> None:
    a = readings(seed, ["power", "temps", "outlets", "analyzer"])
    b = readings(seed, order)
    assert a == b


def test_different_seeds_give_different_noise() -> None:
    assert readings(1, ["power"]) != readings(2, ["power"])


@given(seed=st.integers(), source=st.text(max_size=20), t=st.floats(0, 1e6))
def test_noise_is_a_pure_function(seed: int, source: str, t: float) -> None:
    assert noise(seed, source, t) == noise(seed, source, t)


def test_ac_loss_drops_bmcs_and_boot_brings_them_back() -> None:
    twin, clock = powered_twin()
    for n in range(1, 7):
        twin.set_outlet("pdu1", n, False)
    assert twin.bmc_state("compute01") == "Down" and twin.tray_power_w("compute01") == 0.0
    for n in range(1, 7):
        twin.set_outlet("pdu1", n, True)
    clock.sleep(30)
    assert twin.bmc_state("compute01") == "Booting"
    clock.sleep(200)  # bmc_boot_s is 60-180 s, host on 5-15 s
    assert twin.bmc_state("compute01") == "Ready" and twin.host_state("compute01") == "On"


def test_one_failed_psu_leaves_the_rack_up_and_shares_the_load() -> None:
    twin, clock = powered_twin()
    before = twin.psu_reading("shelf1.psu2")["output_w"]
    twin.fail_psu("shelf1.psu1")
    clock.sleep(1)
    assert twin.host_state("compute01") == "On"
    assert twin.psu_reading("shelf1.psu1")["output_w"] == 0.0
    assert twin.psu_reading("shelf1.psu2")["output_w"] > before
