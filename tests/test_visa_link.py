"""ScpiLink against the TCP simulator over pyvisa-py: IDN probe, number parsing, the error queue,
timeouts, refused and dropped connections, and the lock."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest
from conftest import wait_for
from timeouts import ANSWERED_MS, NEVER_MS

from harness.drivers.visa.link import (
    InstrumentIOError,
    ScpiError,
    ScpiLink,
    parse_number,
    resource_manager,
)
from harness.errors import InstrumentError, TransientDriverError
from harness.sim.physics import RackTwin
from harness.sim.visa.server import ScpiServer


@pytest.fixture
def server(eload_server: ScpiServer) -> ScpiServer:
    return eload_server


@pytest.fixture
def link(server: ScpiServer) -> Iterator[ScpiLink]:
    lk = ScpiLink("eload", server.resource, timeout_ms=ANSWERED_MS)
    yield lk
    lk.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_resource_manager_is_one_per_process() -> None:
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(resource_manager())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(rm) for rm in seen}) == 1 and seen[0] is resource_manager()


def test_open_probes_idn(link: ScpiLink, twin: RackTwin) -> None:
    idn = link.open()
    assert idn == link.idn
    assert idn.split(",")[2] == twin.serial_of("eload")


@pytest.mark.parametrize("text, value", [
    ("12", 12.0), ("+12.5", 12.5), ("-1.5E+02", -150.0), ("4.98653E+03", 4986.53), (".5", 0.5),
    ("5.", 5.0), ("  7\r", 7.0), ("1e-3", 0.001), ("9.8E37", 9.8e37),
])
def test_parse_number_accepts_nr1_nr2_nr3(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", [
    "", "nan", "NaN", "NAN", "inf", "-INF", "9.91E37", "9.91E+37", "+9.91E+37", "-9.91E37", "9.9E37",
    "1e999", "abc", "1,2", "0x10", "1_000", "１２", "12 V", "ON", "--1", "1e", ".",
])
def test_parse_number_rejects_garbage_nan_and_sentinels(text: str) -> None:
    with pytest.raises(ValueError):
        parse_number(text)


def test_query_float_and_floats_over_the_wire(link: ScpiLink, twin: RackTwin) -> None:
    link.write("CURR:STAT:L1 42.5;LOAD ON")
    assert link.query_float("CURR:STAT:L1?") == 42.5
    v, a = link.query_float("MEAS:VOLT?"), link.query_float("MEAS:CURR?")
    assert v == pytest.approx(twin.busbar_v(), abs=0.2)
    assert a == pytest.approx(42.5, rel=0.01)
    with pytest.raises(InstrumentError, match="not a number: 'ON'") as info:
        link.query_float("LOAD?")
    assert "eload" in str(info.value) and "LOAD?" in str(info.value)


def test_write_error_names_the_instrument_command_and_scpi_text(link: ScpiLink) -> None:
    with pytest.raises(ScpiError) as info:
        link.write("FOO:BAR 1")
    err = info.value
    assert isinstance(err, InstrumentError)
    assert err.device == "eload" and err.request == "FOO:BAR 1"
    assert err.entries == ['-113,"Undefined header; FOO:BAR"']
    assert "-113" in str(err) and "FOO:BAR 1" in str(err)
    link.write("CURR:STAT:L1 1")  # the queue was drained: the next write is clean


def test_write_without_check_leaves_the_queue(link: ScpiLink) -> None:
    link.write("FOO", check=False)
    link.write("BAR", check=False)
    assert [e.split(",")[0] for e in link.errors()] == ["-113", "-113"]
    assert link.errors() == []


def test_unanswered_query_times_out_as_transient_error_then_link_recovers(link: ScpiLink,
                                                                          server: ScpiServer) -> None:
    link.open()
    server.log.clear()
    link.timeout_ms = NEVER_MS  # an undefined query: the instrument queues -113 and never answers
    with pytest.raises(InstrumentIOError) as info:
        link.query("NOPE?")
    assert isinstance(info.value, TransientDriverError)
    assert "timeout" in str(info.value) and "eload" in str(info.value)
    assert list(server.log) == ["NOPE?", "*IDN?", "NOPE?"]  # one retry, on a fresh connection, and no more
    link.timeout_ms = ANSWERED_MS
    assert link.query("*OPC?") == "1"
    assert link.errors()[0].startswith("-113")


def test_refused_port_fails_at_open_naming_the_instrument() -> None:
    port = _free_port()
    lk = ScpiLink("analyzer", f"TCPIP::127.0.0.1::{port}::SOCKET", timeout_ms=NEVER_MS)
    with pytest.raises(InstrumentIOError) as info:
        lk.open()
    assert info.value.device == "analyzer" and "*IDN?" in str(info.value)
    assert "Refused" in str(info.value) or "refused" in str(info.value)


def test_stopped_server_gives_instrument_error_then_restart_reconnects(link: ScpiLink, server: ScpiServer) -> None:
    assert link.query("*OPC?") == "1"
    server.stop()
    with pytest.raises(InstrumentError) as info:
        link.query("MEAS:VOLT?")
    assert info.value.device == "eload" and "MEAS:VOLT?" in str(info.value)
    server.start()  # same port
    assert link.query("*OPC?") == "1"


def test_dropped_connection_reconnects_and_the_query_succeeds(link: ScpiLink, server: ScpiServer,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    link.open()
    server.log.clear()
    caplog.set_level(logging.WARNING, logger="harness.drivers.visa")
    assert server.drop_connections() == 1
    wait_for(lambda: not link.is_open, "the link seeing the instrument close the connection")
    assert link.query_float("CURR:STAT:L1?") == 0.0
    assert list(server.log) == ["*IDN?", "CURR:STAT:L1?"]  # reopened and probed, then asked once
    # noticed before asking, not after a read on the dead socket spun until the timeout
    assert [r.getMessage().split(": ", 2)[-1] for r in caplog.records] == [
        "the instrument closed the connection (checking *IDN?)"]


def test_write_after_the_connection_was_dropped_goes_once_on_a_fresh_one(link: ScpiLink, server: ScpiServer,
                                                                         twin: RackTwin) -> None:
    link.write("CURR:STAT:L1 10")
    server.drop_connections()  # while idle: the link sees it before writing
    wait_for(lambda: not link.is_open, "the link seeing the instrument close the connection")
    server.log.clear()
    link.write("CURR:STAT:L1 50")
    assert twin.eload_current_a == 50.0
    assert list(server.log) == ["*IDN?", "CURR:STAT:L1 50", "SYST:ERR?"]


def test_write_whose_check_breaks_is_reported_not_resent(link: ScpiLink, server: ScpiServer,
                                                         twin: RackTwin) -> None:
    link.write("CURR:STAT:L1 10")
    server.inject("wire", kind="reset", at=0.0, match="SYST:ERR?", count=1)  # the connection breaks mid-exchange
    server.log.clear()
    with pytest.raises(InstrumentIOError, match="not resent"):
        link.write("CURR:STAT:L1 50")
    assert twin.eload_current_a == 50.0  # it ran: only reading back can tell
    assert list(server.log) == ["CURR:STAT:L1 50", "SYST:ERR?"]
    link.write("CURR:STAT:L1 60")  # the next call reconnects; the caller decides what to send
    assert twin.eload_current_a == 60.0
    assert list(server.log).count("CURR:STAT:L1 50") == 1


def test_one_link_is_safe_across_threads(link: ScpiLink) -> None:
    link.write("CURR:STAT:L1 12.5")
    idn = link.open()
    wrong: list[tuple[str, str]] = []

    def worker(n: int) -> None:
        for i in range(40):
            cmd, want = ("*IDN?", idn) if (i + n) % 2 else ("CURR:STAT:L1?", "12.5000")
            got = link.query(cmd)
            if got != want:
                wrong.append((cmd, got))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_a_different_instrument_after_reconnect_is_refused(link: ScpiLink, server: ScpiServer, twin: RackTwin) -> None:
    link.open()
    server.stop()
    impostor = ScpiServer(twin, role="eload", model="chroma63600", port=server.port, serial="OTHER-0001")
    impostor.start()
    try:
        with pytest.raises(InstrumentError, match="identity changed"):
            link.query("MEAS:VOLT?")
        assert link.open().split(",")[2] == "OTHER-0001"  # an explicit open() accepts the new identity
    finally:
        impostor.stop()
