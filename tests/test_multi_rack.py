"""Several racks on one station: the station model, one rack's view of it, and shared-instrument locks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from harness.config.station import load_station, select_rack
from harness.errors import ConfigError
from harness.locks import InstrumentLocks

STATION = """station_id: line3
profile: mini
instruments:
  - {name: analyzer, role: power_analyzer, model: yokogawa_wt5000, resource: "TCPIP::10.0.0.9::INSTR",
     calibration_due: 2030-01-01}
racks:
  - name: rackA
    serial: RACK-A
    bmcs: [{name: compute01, url: "https://10.0.1.1", credentials: bmc}]
    pdus: [{name: pdu1, host: 10.0.1.20, credentials: pdu, outlets: {1: shelf1.psu1}}]
  - name: rackB
    serial: RACK-B
    bmcs: [{name: compute01, url: "https://10.0.2.1", credentials: bmc}]
"""


def test_a_station_lists_several_racks_and_each_run_sees_one(tmp_path: Path) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(STATION)
    station = load_station(path)
    a = select_rack(station, "rackA")
    assert [b.url for b in a.bmcs] == ["https://10.0.1.1"] and [p.name for p in a.pdus] == ["pdu1"]
    assert [i.name for i in a.instruments] == ["analyzer"], "station-level instruments are shared"
    assert a.station_id == "line3" and not a.racks
    assert select_rack(station, "rackB").bmcs[0].url == "https://10.0.2.1"
    with pytest.raises(ConfigError, match="give --rack NAME or --all-racks"):
        select_rack(station, None)
    with pytest.raises(ConfigError, match="no rack 'rackC'"):
        select_rack(station, "rackC")


def test_single_rack_station_files_stay_valid_and_mixing_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text("station_id: s\nprofile: mini\nbmcs: [{name: a, url: 'http://h', credentials: c}]\n")
    assert select_rack(load_station(path), None).bmcs[0].name == "a"
    path.write_text(STATION + "bmcs: [{name: x, url: 'http://h', credentials: c}]\n")
    with pytest.raises(ConfigError, match="under each of racks"):
        load_station(path)


def test_a_shared_instrument_is_used_by_one_rack_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RACKVAL_LOCK_DIR", str(tmp_path))
    first = InstrumentLocks(["TCPIP::10.0.0.9::INSTR", "TCPIP::10.0.1.5::INSTR"])
    second = InstrumentLocks(["TCPIP::10.0.0.9::INSTR"])
    first.acquire()
    got = threading.Event()
    waiter = threading.Thread(target=lambda: (second.acquire(), got.set()))
    waiter.start()
    assert not got.wait(0.3), "the second rack must wait for the shared analyzer"
    first.release()
    assert got.wait(5), "and get it once the first rack is done"
    second.release()
    waiter.join()
