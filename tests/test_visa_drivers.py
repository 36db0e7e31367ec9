"""ElectronicLoad and PowerAnalyzer: against the TCP simulator (values from the twin), against the
pyvisa-sim definitions (same drivers, exact strings), and against a stub that answers garbage."""

from __future__ import annotations

import math
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvisa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from timeouts import ANSWERED_MS, NEVER_MS

from harness.drivers.visa.ac_source import AcSource
from harness.drivers.visa.daq import OpenThermocouple, ThermocoupleDaq
from harness.drivers.visa.dialect import dialects
from harness.drivers.visa.eload import ElectronicLoad
from harness.drivers.visa.link import InstrumentIOError, InstrumentReplyError, ScpiLink, parse_number
from harness.drivers.visa.power_analyzer import PowerAnalyzer
from harness.drivers.visa.properties import Dialect, ReadbackMismatch, UnsupportedCommand, format_number
from harness.errors import DriverError
from harness.paths import fixtures_dir
from harness.sim.physics import RackTwin
from harness.sim.visa.server import ScpiServer

SIM_DIR: Path = fixtures_dir() / "pyvisa_sim"


@pytest.fixture
def load(eload_server: ScpiServer, twin: RackTwin) -> Iterator[ElectronicLoad]:
    link = ScpiLink("eload", eload_server.resource, timeout_ms=ANSWERED_MS)
    yield ElectronicLoad(link, "chroma63600", max_current_a=twin.profile.instruments["eload"].max_current_a or 0)
    link.close()


# ------------------------------------------------------------------------------ against the TCP simulator
def test_eload_current_reaches_the_twin_and_reads_back(load: ElectronicLoad, twin: RackTwin) -> None:
    load.mode = "CC"
    load.set_current(100)
    load.input_on()
    assert twin.eload_current_a == 100.0 and twin.eload_on
    assert load.input_enabled is True
    assert load.current_setpoint == 100.0
    v, a, w = load.measure()
    assert v == pytest.approx(twin.busbar_v(), abs=0.1)
    assert 45.0 < v < 50.0
    assert a == pytest.approx(100.0, rel=0.005)
    assert w == pytest.approx(v * a, rel=0.005)
    load.input_off()
    assert not twin.eload_on and load.input_enabled is False
    assert load.measure()[1] == 0.0
    assert load.protection_status() == 0


def test_eload_constant_power(load: ElectronicLoad, twin: RackTwin) -> None:
    load.mode = "CP"
    assert load.mode == "CP"
    load.set_power(6000)
    load.input_on()
    v, a, w = load.measure()
    assert w == pytest.approx(6000, rel=0.02)
    assert a == pytest.approx(6000 / v, rel=0.02)


@pytest.mark.parametrize("amps", [400.01, -0.5, math.nan, math.inf, "5", True])
def test_eload_setpoint_out_of_range_raises_before_sending(load: ElectronicLoad, eload_server: ScpiServer,
                                                           twin: RackTwin, amps: object) -> None:
    load.link.open()
    eload_server.log.clear()
    with pytest.raises(ValueError):
        load.set_current(amps)  # type: ignore[arg-type]
    assert list(eload_server.log) == [] and twin.eload_current_a == 0.0


def test_eload_power_limit_is_the_constructor_rating(eload_server: ScpiServer) -> None:
    capped = ElectronicLoad(ScpiLink("eload", eload_server.resource), max_current_a=400, max_power_w=1000)
    with pytest.raises(ValueError, match="outside 0.0..1000"):
        capped.set_power(1000.5)
    with pytest.raises(ValueError):
        capped.set_power(-1)
    with pytest.raises(ValueError, match="mode must be one of"):
        capped.mode = "CR"  # type: ignore[assignment]
    capped.link.close()


def test_analyzer_measure_is_the_twin_reading(analyzer_server: ScpiServer, twin: RackTwin, load: ElectronicLoad) -> None:
    analyzer = PowerAnalyzer(ScpiLink("analyzer", analyzer_server.resource, timeout_ms=ANSWERED_MS))
    idle = analyzer.measure()
    truth = twin.analyzer_reading("pdu1")
    assert set(idle) == {"V", "A", "W", "PF"}
    for key in idle:
        assert idle[key] == pytest.approx(truth[key], rel=1e-5), key
    load.set_current(300)
    load.input_on()
    loaded = analyzer.measure()
    assert loaded["W"] == pytest.approx(twin.analyzer_reading("pdu1")["W"], rel=1e-5)
    assert loaded["W"] - idle["W"] > 300 * 45  # the load's power shows up at the PDU inlet, plus losses
    assert sum(m.startswith(":NUMeric:NORMal:ITEM") for m in analyzer_server.log) == 6  # configured once
    analyzer.link.close()


_ALL_DIALECTS = [((d.role, name), d) for name, d in dialects().items()]


@pytest.mark.parametrize("role_model, dialect", _ALL_DIALECTS, ids=[m for (_, m), _ in _ALL_DIALECTS])
def test_driver_command_strings_are_understood_by_the_simulator(twin: RackTwin, role_model: tuple[str, str],
                                                                dialect: Dialect) -> None:
    """Every canonical string a dialect sends parses on the simulated model without an error, and
    every driver dialect has a simulated model."""
    role, model = role_model
    device = ScpiServer(twin, role=role, model=model, measures="pdu1" if role == "power_analyzer" else None,  # type: ignore[arg-type]
                        channels={101: "coolant_supply"}).device
    values = {"mode": (dialect.tokens("mode") or {}).get("CC", ("",))[0], "input": "0", "output": "0",
              "voltage": format_number(230.0), "frequency": format_number(50.0)}
    sent = [*dialect.setup]
    for key, template in dialect.sent().items():
        token = values.get(key, "(@101)" if role == "daq" else format_number(1.0))
        sent.append(template.format(token) if "{}" in template else template)
    for commands in dialect.actions.values():
        sent.extend(commands)
    for command in sent:
        device.process(command)
        assert device.process("SYST:ERR?") == '+0,"No error"', command


# ------------------------------------------------------------------------------ against pyvisa-sim
def _sim_link(yaml_name: str, resource: str) -> ScpiLink:
    rm = pyvisa.ResourceManager(f"{SIM_DIR / yaml_name}@sim")
    return ScpiLink(yaml_name.split(".")[0], resource, timeout_ms=ANSWERED_MS, rm=rm)


@pytest.mark.parametrize("yaml_name, resource, dialect", [
    ("chroma63600.yaml", "TCPIP0::10.0.0.21::5025::SOCKET", "chroma63600"),
    ("chroma63600.yaml", "TCPIP0::10.0.0.21::inst0::INSTR", "chroma63600"),
    ("keysight_el30000.yaml", "TCPIP0::10.0.0.22::5025::SOCKET", "keysight_el30000"),
])
def test_eload_driver_against_pyvisa_sim(yaml_name: str, resource: str, dialect: str) -> None:
    load = ElectronicLoad(_sim_link(yaml_name, resource), dialect, max_current_a=60)
    assert load.identify()
    load.mode = "CP"
    load.set_power(120.5)
    assert load.power_setpoint == 120.5
    load.mode = "CC"
    load.set_current(12.5)
    assert load.current_setpoint == 12.5 and load.mode == "CC"
    load.input_on()
    assert load.input_enabled is True
    load.input_off()
    assert load.input_enabled is False
    v, a, w = load.measure()
    assert v > 0 and a >= 0 and w >= 0
    with pytest.raises(DriverError, match="-113"):
        load.link.write("FOO:BAR 1")
    if dialect == "chroma63600":
        assert load.protection_status() == 0 and load.protection_tripped() == frozenset()
    else:  # the EL30000 definition answers a latched OCP (bit 1 of STAT:QUES:COND?)
        assert load.protection_tripped() == {"OCP"}
    load.clear_protection()
    with pytest.raises(UnsupportedCommand):
        ElectronicLoad(load.link, dialect, max_current_a=1).dialect.action("inrush_arm")


@pytest.mark.parametrize("yaml_name, resource, dialect, watts", [
    ("yokogawa_wt5000.yaml", "TCPIP0::10.0.0.31::5025::SOCKET", "yokogawa_wt5000", 10230.0),
    ("yokogawa_wt5000.yaml", "TCPIP0::10.0.0.31::inst0::INSTR", "yokogawa_wt5000", 10230.0),
    ("chroma66205.yaml", "TCPIP0::10.0.0.32::5025::SOCKET", "chroma66205", 976.4),
])
def test_analyzer_driver_against_pyvisa_sim(yaml_name: str, resource: str, dialect: str, watts: float) -> None:
    analyzer = PowerAnalyzer(_sim_link(yaml_name, resource), dialect)
    reading = analyzer.measure()
    assert reading["W"] == watts and 0 < reading["PF"] <= 1 and reading["V"] > 200
    analyzer.start_energy()
    analyzer.stop_energy()
    assert analyzer.energy_wh() == {"yokogawa_wt5000": 1023.0, "chroma66205": 488.2}[dialect]
    analyzer.arm_inrush()
    assert analyzer.inrush_peak_a() == {"yokogawa_wt5000": 64.1, "chroma66205": 52.4}[dialect]


def test_unknown_dialect_is_refused(eload_server: ScpiServer) -> None:
    with pytest.raises(ValueError, match="unknown dialect"):
        ElectronicLoad(ScpiLink("x", eload_server.resource), "nonesuch", max_current_a=1)


# ------------------------------------------------------------------------------ against a stub that answers anything
class _Stub:
    """A TCP 'instrument' that answers sane *IDN?/SYST:ERR? and ``payload`` to the queries aimed at."""

    def __init__(self) -> None:
        self.payload: bytes | None = b"0"
        self.target = "measure"  # or "errors": the payload answers SYST:ERR? instead
        stub = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    for raw in self.rfile:
                        command = raw.decode("latin-1").strip()
                        if command == "*IDN?":
                            reply: bytes | None = b"STUB,GARBAGE,0,0"
                        elif command == "SYST:ERR?":
                            reply = stub.payload if stub.target == "errors" else b'+0,"No error"'
                        elif any(part.strip().split(" ", 1)[0].endswith("?") for part in command.split(";")):
                            reply = stub.payload if stub.target == "measure" else b"0"  # a query (may take args)
                        else:
                            reply = None
                        if reply is not None:
                            self.wfile.write(reply + b"\n")
                except OSError:
                    pass

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.resource = f"TCPIP::127.0.0.1::{self.server.server_address[1]}::SOCKET"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def stub() -> Iterator[_Stub]:
    s = _Stub()
    yield s
    s.close()


_SPECIAL = ["", " ", "NaN", "nan", "9.91E37", "9.91E+37", "+9.91E+37", "-9.91E+37", "9.9E37", "INF", "-inf",
            "1e999", "ON", "OFF", "CCH", '+0,"No error"', "-113,\"x\"", "1,2,3", "1.0,,2", "0x10", "1_000",
            "１２", "12 V", "1;2", "\x00", "-0", "+1.23E+02", "230.1,15.1,3000.0,0.98", "230,15,3000,7"]
_payloads = st.one_of(
    st.sampled_from(_SPECIAL).map(lambda s: s.encode("utf-8")),
    st.text(max_size=40).map(lambda s: s.encode("utf-8")),
    st.binary(max_size=40),
    st.floats().map(lambda x: repr(x).encode()),
    st.lists(st.floats(), min_size=1, max_size=5).map(lambda xs: ",".join(map(repr, xs)).encode()),
    st.integers(1_000, 100_000).map(lambda n: b"9" * n),
)
_actions = st.sampled_from(["eload.measure", "eload.protection", "eload.input", "analyzer.measure",
                            "errors.set_current", "eload.protection_tripped", "analyzer.energy", "analyzer.inrush",
                            "chroma66205.measure", "daq.read", "daq.measure_channel", "ac.measure", "ac.output",
                            "ac.protection", "keysight_ac6800.measure"])
_WIRED = {101: "coolant_supply", 102: "coolant_return", 103: "air_inlet", 104: "air_exhaust"}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=_payloads, action=_actions)
def test_any_reply_gives_a_value_or_a_driver_error(stub: _Stub, payload: bytes, action: str) -> None:
    stub.payload = payload
    stub.target = "errors" if action.startswith("errors") else "measure"
    link = ScpiLink("stub", stub.resource, timeout_ms=ANSWERED_MS)  # the stub answers every query
    try:
        load = ElectronicLoad(link, max_current_a=400)
        if action == "eload.measure":
            result: object = load.measure()
            clean = b"\n" not in payload and b"," not in payload
            assert all(math.isfinite(x) and abs(x) < 9.9e37 for x in result)  # type: ignore[attr-defined]
            if clean:
                assert result == (parse_number(payload.decode()),) * 3
        elif action == "eload.protection":
            assert isinstance(load.protection_status(), int)
        elif action == "eload.input":
            assert load.input_enabled in (True, False)
        elif action == "analyzer.measure":
            reading = PowerAnalyzer(link).measure()
            assert all(math.isfinite(x) for x in reading.values()) and -1 <= reading["PF"] <= 1
        elif action == "chroma66205.measure":
            reading = PowerAnalyzer(link, "chroma66205").measure()
            assert all(math.isfinite(x) for x in reading.values()) and -1 <= reading["PF"] <= 1
        elif action == "eload.protection_tripped":
            assert all(isinstance(n, str) for n in load.protection_tripped())
        elif action == "analyzer.energy":
            energy = PowerAnalyzer(link).energy_wh()
            assert math.isfinite(energy) and 0 <= energy < 9.9e37
        elif action == "analyzer.inrush":
            peak = PowerAnalyzer(link, "chroma66205").inrush_peak_a()
            assert math.isfinite(peak) and 0 <= peak < 9.9e37
        elif action == "daq.read":
            temps = ThermocoupleDaq(link, channels=_WIRED).read()
            assert set(temps) == set(_WIRED.values()) and all(-200 <= t <= 1372 for t in temps.values())
        elif action == "daq.measure_channel":
            assert -200 <= ThermocoupleDaq(link, channels=_WIRED).measure_channel(102) <= 1372
        elif action in ("ac.measure", "keysight_ac6800.measure"):
            source = AcSource(link, "chroma61800" if action == "ac.measure" else "keysight_ac6800")
            reading = source.measure()
            assert all(math.isfinite(x) and abs(x) < 9.9e37 for x in reading.values())
            assert -1 <= reading["PF"] <= 1 and reading["V"] >= 0
        elif action == "ac.output":
            assert AcSource(link).output_enabled in (True, False)
        elif action == "ac.protection":
            assert all(isinstance(n, str) for n in AcSource(link).protection_tripped())
        else:
            load.set_current(1.0)
    except InstrumentIOError:
        raise  # the stub answers every query: garbage is an answer, never silence
    except DriverError:
        pass  # InstrumentError and its kin: what a caller is promised
    finally:
        link.close()


def test_silent_instrument_is_an_io_error_not_a_hang(stub: _Stub) -> None:
    stub.payload, stub.target = None, "measure"
    load = ElectronicLoad(ScpiLink("stub", stub.resource, timeout_ms=NEVER_MS), max_current_a=1)  # never answered
    with pytest.raises(InstrumentIOError, match="stub: MEAS:VOLT?"):
        load.measure()
    load.link.close()


def test_input_off_that_does_not_read_back_off_is_an_error(stub: _Stub) -> None:
    stub.payload, stub.target = b"ON", "measure"
    load = ElectronicLoad(ScpiLink("stub", stub.resource, timeout_ms=ANSWERED_MS), max_current_a=1)
    with pytest.raises(ReadbackMismatch, match="read back True"):
        load.input_off()
    stub.payload = b"1.5"
    with pytest.raises(InstrumentReplyError, match="not an integer"):
        load.protection_status()
    load.link.close()


@pytest.mark.parametrize("reply, match", [
    ("+2.1E+01,+2.2E+01", "daq: READ\\?: 2 readings for 4 channels"),
    ("21,22,23,2000", "channel 104 \\(air_exhaust\\): 2000 .C is outside type K"),
    ("21,22,23,NaN", "channel 104 \\(air_exhaust\\): not a number"),
    ("21,22,-9.91E+37,24", "channel 103 \\(air_inlet\\): open thermocouple or over range"),
    ("21,+9.9E37,23,24", "channel 102 \\(coolant_return\\): open thermocouple or over range"),
    ("21,22,INF,24", "channel 103 \\(air_inlet\\): open thermocouple"),
    ("21,22,abc,24", "channel 103 \\(air_inlet\\): not a number"),
    ("", "1 readings for 4 channels"),
])
def test_daq_bad_scans_are_typed_errors(stub: _Stub, reply: str, match: str) -> None:
    stub.payload, stub.target = reply.encode(), "measure"
    daq = ThermocoupleDaq(ScpiLink("daq", stub.resource, timeout_ms=ANSWERED_MS), channels=_WIRED)
    with pytest.raises(InstrumentReplyError, match=match) as info:
        daq.read()
    assert isinstance(info.value, OpenThermocouple) == ("open" in match)
    daq.link.close()


@pytest.mark.parametrize("reply, match", [("1.2", "PF = 1.2 is impossible"), ("-3", "V = -3.0 is impossible"),
                                          ("9.91E37", "no valid reading"), ("ON", "not a number")])
def test_ac_source_impossible_readings_are_typed_errors(stub: _Stub, reply: str, match: str) -> None:
    stub.payload, stub.target = reply.encode(), "measure"
    source = AcSource(ScpiLink("ac", stub.resource, timeout_ms=ANSWERED_MS))
    with pytest.raises(InstrumentReplyError, match=match):
        source.measure()
    source.link.close()
