"""The SCPI simulator: the command-tree matcher, IEEE 488.2 behaviour, and the two personalities
over real TCP (pyvisa-py), with values from the twin."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from timeouts import ANSWERED_MS

from harness.drivers.visa.link import ScpiError, ScpiLink
from harness.sim.physics import RackTwin
from harness.sim.visa.device import Call, ScpiDevice
from harness.sim.visa.parser import CommandTree, ScpiFault, channel_list, split_unit, split_units
from harness.sim.visa.server import ScpiServer


@pytest.fixture
def eload(eload_server: ScpiServer) -> Iterator[ScpiLink]:
    link = ScpiLink("eload", eload_server.resource, timeout_ms=ANSWERED_MS)
    link.open()
    yield link
    link.close()


# ------------------------------------------------------------------------------ matcher
def test_short_long_and_case_forms_match_one_declaration() -> None:
    tree: CommandTree[str] = CommandTree()
    tree.add("CURRent:STATic:L#", "set")
    tree.add("CURRent:STATic:L#?", "get")
    for header in ("CURR:STAT:L1", "CURRENT:STATIC:L1", "current:static:l1", ":CURRent:STATic:L1", "Curr:Static:L1"):
        m = tree.lookup(header)
        assert m is not None and m.handler == "set" and m.suffixes == (1,), header
    assert tree.lookup("CURR:STAT:L2").suffixes == (2,)  # type: ignore[union-attr]
    assert tree.lookup("CURR:STAT:L").suffixes == (1,)  # type: ignore[union-attr]  # omitted suffix is 1
    assert tree.lookup("curr:stat:l1?").handler == "get"  # type: ignore[union-attr]
    for bad in ("CUR:STAT:L1", "CURRE:STAT:L1", "CURR:STAT", "CURR:STAT:L1:X", "STAT:L1", "CURR::STAT:L1"):
        assert tree.lookup(bad) is None, bad


def test_optional_nodes_may_be_given_or_left_out() -> None:
    tree: CommandTree[str] = CommandTree()
    tree.add("SYSTem:ERRor[:NEXT]?", "next")
    tree.add("SYSTem:ERRor:COUNt?", "count")
    tree.add("[SOURce:]CURRent", "curr")
    assert tree.lookup("SYST:ERR?").handler == "next"  # type: ignore[union-attr]
    assert tree.lookup("system:error:next?").handler == "next"  # type: ignore[union-attr]
    assert tree.lookup("SYST:ERR:COUN?").handler == "count"  # type: ignore[union-attr]
    assert tree.lookup("SYST:NEXT?") is None
    assert tree.lookup("SOUR:CURR").handler == "curr"  # type: ignore[union-attr]
    assert tree.lookup("CURRENT").handler == "curr"  # type: ignore[union-attr]


def test_message_splitting_respects_quotes() -> None:
    assert split_units('A 1;B "x;y";;C?') == ["A 1", 'B "x;y"', "C?"]
    assert split_unit(':NUM:NORM:ITEM1 URMS, 1') == (":NUM:NORM:ITEM1", ["URMS", "1"])
    assert split_unit("*IDN?") == ("*IDN?", [])
    assert split_unit("CONF:TEMP TC,K,(@101,103:104)") == ("CONF:TEMP", ["TC", "K", "(@101,103:104)"])


def test_channel_lists() -> None:
    assert channel_list("(@101:104,106)") == [101, 102, 103, 104, 106]
    assert channel_list("( @ 201 , 101 )") == [201, 101]  # scan order is list order
    assert channel_list("(@101,101)") == [101]
    for bad in ("101", "(@)", "(@104:101)", "(@120:201)", "(@1a)", "(@1:2:3)", "(@101;102)"):
        with pytest.raises(ScpiFault) as info:
            channel_list(bad)
        assert info.value.code == -224, bad
    with pytest.raises(ScpiFault, match="no channel 121"):
        channel_list("(@119:121)", lambda ch: ch % 100 <= 20)


def test_device_specific_errors_set_the_device_dependent_bit() -> None:
    toy = _Toy()
    toy.push_error(ScpiFault(301, "OCP"))
    assert toy.process("*ESR?;SYST:ERR?") == '8;301,"Protection tripped; OCP"'


class _Toy(ScpiDevice):
    def __init__(self) -> None:
        super().__init__("TOY,1,0,0")
        self.items: dict[int, str] = {}
        self.declare(":NUMeric:NORMal:ITEM#", self._item)
        self.declare(":NUMeric:NORMal:ITEM#?", self._item_q)

    def _item(self, call: Call) -> None:
        assert not call.query
        self.items[call.suffix] = call.args[0]

    def _item_q(self, call: Call) -> str:
        assert call.query
        return self.items.get(call.suffix, "NONE")


def test_compound_message_uses_the_previous_path_and_joins_replies() -> None:
    toy = _Toy()
    assert toy.process(":NUM:NORM:ITEM1 A;ITEM2 B;:NUMERIC:NORMAL:ITEM3 C") is None
    assert toy.items == {1: "A", 2: "B", 3: "C"}
    assert toy.process(":NUM:NORM:ITEM1?;ITEM2?;*IDN?;ITEM3?") == "A;B;TOY,1,0,0;C"


def test_command_error_discards_the_rest_of_the_message_and_sets_esr() -> None:
    toy = _Toy()
    assert toy.process("FOO:BAR 1;:NUM:NORM:ITEM1 A") is None
    assert toy.items == {}
    assert toy.process("SYST:ERR?;SYST:ERR?;*ESR?;*ESR?") == '-113,"Undefined header; FOO:BAR";+0,"No error";32;0'


def test_parameter_count_is_checked() -> None:
    toy = _Toy()
    toy.process(":NUM:NORM:ITEM1")
    toy.process("*IDN? 5")
    assert toy.process("SYST:ERR?;SYST:ERR?") == '-109,"Missing parameter; :NUM:NORM:ITEM1";-108,"Parameter not allowed; *IDN?"'


def test_error_queue_overflow_ends_in_350() -> None:
    toy = _Toy()
    for _ in range(toy.ERROR_QUEUE_SIZE + 5):
        toy.process("NOPE")
    entries = [toy.process("SYST:ERR?") for _ in range(toy.ERROR_QUEUE_SIZE + 1)]
    assert entries[-2].startswith("-350,")  # type: ignore[union-attr]
    assert entries[-1] == '+0,"No error"'
    assert ScpiFault(-222, 'say "hi"').entry == "-222,\"Data out of range; say 'hi'\""


# ------------------------------------------------------------------------------ over TCP
def test_idn_and_compound_query_answer_on_one_line(eload_server: ScpiServer, eload: ScpiLink,
                                                   twin: RackTwin) -> None:
    assert eload.idn == f"CHROMA,63600-2,{twin.serial_of('eload')},1.20"
    reply = eload.query("*IDN?;SYST:ERR?")
    assert reply == f'{eload.idn};+0,"No error"'
    assert eload.query("*OPC?") == "1"  # nothing was left over from the compound reply


def test_short_long_and_lower_case_over_the_wire(eload: ScpiLink, twin: RackTwin) -> None:
    eload.write("curr:stat:l1 12.5")
    assert eload.query_float("CURRent:STATic:L1?") == 12.5
    eload.write(":CURRent:STATic:L1 20")
    assert eload.query_float("curr:stat:l1?") == 20.0
    eload.write("load on")
    assert eload.query("LOAD:STATe?") == "ON"
    assert twin.eload_on and twin.eload_current_a == 20.0
    assert eload.query_float("MEASure:CURRent?") == pytest.approx(20.0, rel=0.01)
    assert eload.query_float("fetc:curr?") == pytest.approx(20.0, rel=0.01)


def test_undefined_header_is_minus_113_with_command_error_bit(eload: ScpiLink) -> None:
    with pytest.raises(ScpiError) as info:
        eload.write("FOO:BAR 1")
    assert "-113" in str(info.value) and "FOO:BAR 1" in str(info.value) and "eload" in str(info.value)
    assert eload.query("*ESR?") == "32"
    assert eload.query("*ESR?") == "0"  # read-clears


def test_out_of_range_is_minus_222_with_execution_error_bit(eload: ScpiLink, twin: RackTwin) -> None:
    eload.write("CURR:STAT:L1 10")
    with pytest.raises(ScpiError) as info:
        eload.write("CURR:STAT:L1 401")  # mini's load is rated 400 A
    assert "-222" in str(info.value)
    assert eload.query("*ESR?") == "16"
    assert twin.eload_current_a == 10.0  # the bad value changed nothing
    with pytest.raises(ScpiError, match="-114"):
        eload.write("CURR:STAT:L3 1")


def test_reset_turns_the_load_off(eload: ScpiLink, twin: RackTwin) -> None:
    eload.write("CURR:STAT:L1 50;LOAD ON")
    assert twin.eload_on
    eload.write("*RST")
    assert not twin.eload_on and twin.eload_current_a == 0.0
    assert eload.query("MODE?;LOAD?") == "CCH;OFF"


def test_constant_power_converts_at_the_present_busbar_voltage(eload: ScpiLink, twin: RackTwin) -> None:
    volts = twin.busbar_v()
    eload.write("MODE CPH;POW:STAT:L1 5000;LOAD ON")
    assert twin.eload_current_a == pytest.approx(5000 / volts, rel=1e-3)
    _v, _a, w = (eload.query_float(q) for q in ("MEAS:VOLT?", "MEAS:CURR?", "MEAS:POW?"))
    assert w == pytest.approx(5000, rel=0.02)  # the busbar sags a little under the load
    with pytest.raises(ScpiError, match="-224"):
        eload.write("MODE CRH")  # not simulated: said so, not silently ignored


def test_two_connections_see_one_instrument(eload_server: ScpiServer, eload: ScpiLink) -> None:
    other = ScpiLink("eload-2", eload_server.resource, timeout_ms=ANSWERED_MS)
    other.write("CURR:STAT:L1 33")
    assert eload.query_float("CURR:STAT:L1?") == 33.0
    other.close()


def test_analyzer_unconfigured_answers_no_data_then_the_twin(analyzer_server: ScpiServer, twin: RackTwin) -> None:
    link = ScpiLink("analyzer", analyzer_server.resource, timeout_ms=ANSWERED_MS)
    assert link.query(":NUMeric:NORMal:VALue?").split(",")[0] == "+9.91E+37"
    link.write(":NUM:FORM ASC;:NUM:NORM:NUMB 4;:NUM:NORM:ITEM1 URMS,1;ITEM2 IRMS,1;ITEM3 P,1;ITEM4 LAMBDA,1")
    values = link.query_floats("numeric:normal:value?")
    truth = twin.analyzer_reading("pdu1")
    assert values == pytest.approx([truth["V"], truth["A"], truth["W"], truth["PF"]], rel=1e-5)
    assert link.query(":NUM:NORM:ITEM3?") == "P,1"
    with pytest.raises(ScpiError, match="-222"):
        link.write(":NUM:NORM:ITEM1 URMS,3")  # only element 1 is wired
    with pytest.raises(ScpiError, match="-224"):
        link.write(":NUM:NORM:ITEM1 VOLTS,1")
    link.close()


def test_drop_connections_closes_clients_but_keeps_listening(eload_server: ScpiServer) -> None:
    with socket.create_connection(("127.0.0.1", eload_server.port), timeout=ANSWERED_MS / 1000) as s:
        s.sendall(b"*OPC?\n")
        assert s.recv(100) == b"1\n"
        assert eload_server.drop_connections() == 1
        assert s.recv(100) == b""  # closed by the instrument
    with socket.create_connection(("127.0.0.1", eload_server.port), timeout=ANSWERED_MS / 1000) as s:
        s.sendall(b"*OPC?\n")
        assert s.recv(100) == b"1\n"


def test_unknown_model_is_refused(twin: RackTwin) -> None:
    with pytest.raises(ValueError, match="no simulated eload"):
        ScpiServer(twin, role="eload", model="nonesuch")
