"""Calibration: the station file records each instrument's calibration due date, and an expired
(or missing) one stops a hardware run before it starts, naming the instrument. Simulated
instruments are exempt. Tested through a station file loaded from YAML and Rack.check_calibration."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from harness.clock import VirtualClock
from harness.config.profile import load_profile
from harness.config.station import Credentials, load_station
from harness.errors import ConfigError, Refused
from harness.rack import Rack

TODAY = date(2025, 6, 1)


def _rack(tmp_path: Path, instruments: str, *, simulated_station: bool = False) -> Rack:
    path = tmp_path / "station.yaml"
    path.write_text(f"""\
station_id: lab-7
profile: mini
simulated: {str(simulated_station).lower()}
bmcs:
  - {{name: compute1, url: "https://10.0.0.5", credentials: bmc}}
instruments:
{instruments}""", encoding="utf-8")
    station = load_station(path)
    creds = Credentials(station, {"bmc": {"username": "u", "password": "p"}})
    return Rack(station, load_profile("mini"), creds, VirtualClock())


def test_valid_calibrations_pass(tmp_path: Path) -> None:
    rack = _rack(tmp_path, """\
  - {name: eload, role: eload, model: chroma63600, resource: "TCPIP::10.0.0.21::5025::SOCKET", calibration_due: 2025-12-31}
  - {name: analyzer, role: power_analyzer, model: yokogawa_wt5000, resource: "TCPIP::10.0.0.31::5025::SOCKET", calibration_due: 2025-06-01}
""")
    assert str(rack.instrument_endpoints["eload"].calibration_due) == "2025-12-31"  # parsed as a date from YAML
    rack.check_calibration(TODAY)  # due today is still in calibration


def test_expired_calibration_is_refused_naming_the_instrument(tmp_path: Path) -> None:
    rack = _rack(tmp_path, """\
  - {name: eload, role: eload, model: chroma63600, resource: "TCPIP::10.0.0.21::5025::SOCKET", calibration_due: 2026-01-31}
  - {name: pa-west, role: power_analyzer, model: yokogawa_wt5000, resource: "TCPIP::10.0.0.31::5025::SOCKET", calibration_due: 2025-05-31}
""")
    with pytest.raises(Refused, match="instrument pa-west: calibration expired on 2025-05-31"):
        rack.check_calibration(TODAY)
    rack.check_calibration(date(2025, 5, 31))  # the day before, the same station passes


def test_missing_date_on_hardware_is_refused(tmp_path: Path) -> None:
    rack = _rack(tmp_path, """\
  - {name: daq1, role: daq, model: keysight_daq970a, resource: "TCPIP::10.0.0.41::5025::SOCKET"}
""")
    with pytest.raises(Refused, match="instrument daq1: no calibration_due date"):
        rack.check_calibration(TODAY)


def test_simulated_instruments_are_exempt(tmp_path: Path) -> None:
    rack = _rack(tmp_path, """\
  - {name: eload, role: eload, model: chroma63600, resource: "TCPIP::127.0.0.1::5025::SOCKET", simulated: true}
  - {name: ac, role: ac_source, model: chroma61800, resource: "TCPIP::127.0.0.1::5026::SOCKET", simulated: true, calibration_due: 2020-01-01}
""")
    rack.check_calibration(TODAY)


def test_a_simulated_station_is_exempt(tmp_path: Path) -> None:
    rack = _rack(tmp_path, """\
  - {name: eload, role: eload, model: chroma63600, resource: "TCPIP::127.0.0.1::5025::SOCKET", simulated: true}
""", simulated_station=True)
    rack.check_calibration(TODAY)


def test_hardware_instrument_on_a_simulated_station_is_still_checked(tmp_path: Path) -> None:
    rack = _rack(tmp_path, """\
  - {name: eload, role: eload, model: chroma63600, resource: "TCPIP::10.0.0.21::5025::SOCKET", calibration_due: 2020-01-01}
""", simulated_station=True)
    with pytest.raises(Refused, match="instrument eload"):
        rack.check_calibration(TODAY)


def test_a_bad_date_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"station.yaml:7: instruments\[0\].calibration_due"):
        _rack(tmp_path, """\
  - {name: eload, role: eload, model: chroma63600, resource: "TCPIP::10.0.0.21::5025::SOCKET", calibration_due: "next spring"}
""")
