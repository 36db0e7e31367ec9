"""Every VISA driver and model against a written transcript of the exact traffic (pymeasure's
``expected_protocol`` style, see tests/visa_transcript.py): the strings a real instrument receives,
the link's ``*IDN?`` probe and ``SYST:ERR?`` drain, and what the driver makes of good and bad replies.

The transcripts are written by hand from the manuals' forms, separately from the dialect files they
check: a dialect edit that changes what goes on the wire fails here, naming the step.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from visa_transcript import NO_ERROR, TIMEOUT, Step, Transcript, TranscriptMismatch, expected_protocol

from harness.drivers.visa.ac_source import AcSource
from harness.drivers.visa.daq import OpenThermocouple, ThermocoupleDaq
from harness.drivers.visa.eload import ElectronicLoad
from harness.drivers.visa.link import MAX_ERROR_DRAIN, InstrumentIOError, InstrumentReplyError, ScpiError
from harness.drivers.visa.power_analyzer import PowerAnalyzer
from harness.drivers.visa.properties import ReadbackMismatch, UnsupportedCommand

CHROMA_LOAD = "CHROMA,63600-2,T0001,1.20"
KEYSIGHT_LOAD = "Keysight Technologies,EL34143A,T0002,1.0.2"
WT5000 = "YOKOGAWA,WT5000,T0003,F1.01"
CHROMA_PM = "CHROMA,66205,T0004,1.00"
DAQ970A = "Keysight Technologies,DAQ970A,T0005,A.03.02"
CHROMA_AC = "CHROMA,61845,T0006,1.02"
KEYSIGHT_AC = "Keysight Technologies,AC6803B,T0007,A.01.02"
WIRED = {101: "coolant_supply", 102: "coolant_return", 103: "air_inlet", 104: "air_exhaust"}


def written(command: str) -> list[Step]:
    """A write as the link sends it: the command, then the error queue read until it says 0."""
    return [(command, None), ("SYST:ERR?", NO_ERROR)]


def chroma_load(link):  # type: ignore[no-untyped-def]
    return ElectronicLoad(link, "chroma63600", max_current_a=60, max_power_w=3000)


# ------------------------------------------------------------------------------ electronic loads
def test_chroma63600_transcript() -> None:
    with expected_protocol(chroma_load, [
        ("*IDN?", CHROMA_LOAD),
        *written("MODE CCH"), ("MODE?", "CCL"),  # any CC range reads back as CC
        *written("CURR:STAT:L1 12.5"), ("CURR:STAT:L1?", "12.5000"),
        *written("MODE CPH"), ("MODE?", "CPH"),
        *written("POW:STAT:L1 1500.0"), ("POW:STAT:L1?", "1500.000"),
        *written("LOAD ON"), ("LOAD?", "ON"),
        ("MEAS:VOLT?", "49.8700"), ("MEAS:CURR?", "30.1000"), ("MEAS:POW?", "1501.087"),
        ("LOAD:PROT?", "6"),
        *written("LOAD:PROT:CLE"), ("LOAD:PROT?", "0"),
        *written("LOAD OFF"), ("LOAD?", "OFF"),
    ]) as load:
        load.mode = "CC"
        load.set_current(12.5)
        assert load.current_setpoint == 12.5
        load.mode = "CP"
        load.set_power(1500)
        assert load.power_setpoint == 1500.0
        load.input_on()
        assert load.measure() == (49.87, 30.1, 1501.087)
        assert load.protection_tripped() == {"OVP", "OCP"}
        assert load.clear_protection() == frozenset()
        load.input_off()


def test_keysight_el30000_transcript() -> None:
    with expected_protocol(lambda link: ElectronicLoad(link, "keysight_el30000", max_current_a=60), [
        ("*IDN?", KEYSIGHT_LOAD),
        *written("FUNC CURR"), ("FUNC?", "CURR"),
        *written("CURR 12.5"), ("CURR?", "+1.25000E+01"),
        *written("FUNC POW"), ("FUNC?", "POWER"),  # the long form is the same mode
        *written("POW 300.0"), ("POW?", "+3.00000E+02"),
        *written("INP 1"), ("INP?", "1"),
        ("MEAS:VOLT?", "+4.98700E+01"), ("MEAS:CURR?", "+6.01000E+00"), ("MEAS:POW?", "+2.99700E+02"),
        ("STAT:QUES:COND?", "2"),
        *written("INP:PROT:CLE"), ("STAT:QUES:COND?", "0"),
        *written("INP 0"), ("INP?", "0"),
    ]) as load:
        load.mode = "CC"
        load.set_current(12.5)
        assert load.current_setpoint == 12.5
        load.mode = "CP"
        load.set_power(300)
        assert load.power_setpoint == 300.0
        load.input_on()
        assert load.measure() == (49.87, 6.01, 299.7)
        assert load.protection_tripped() == {"OCP"}
        assert load.clear_protection() == frozenset()
        load.input_off()


def test_error_queue_is_drained_after_a_write() -> None:
    with expected_protocol(chroma_load, [
        ("*IDN?", CHROMA_LOAD),
        ("CURR:STAT:L1 12.5", None),
        ("SYST:ERR?", '-222,"Data out of range"'), ("SYST:ERR?", '-221,"Settings conflict"'), ("SYST:ERR?", NO_ERROR),
        ("MEAS:VOLT?", "49.8700"),  # the same connection goes on: an error entry is not an I/O failure
    ]) as load:
        with pytest.raises(ScpiError) as info:
            load.set_current(12.5)
        assert info.value.entries == ['-222,"Data out of range"', '-221,"Settings conflict"']
        assert "dut: CURR:STAT:L1 12.5" in str(info.value)
        assert load.voltage == 49.87


def test_an_error_queue_that_never_empties_is_an_error() -> None:
    with expected_protocol(chroma_load, [
        ("*IDN?", CHROMA_LOAD), ("LOAD OFF", None), *[("SYST:ERR?", '-350,"Queue overflow"')] * MAX_ERROR_DRAIN,
    ]) as load, pytest.raises(ScpiError, match="still not empty after 32 reads"):
        load.input_off()


def test_a_bad_reply_is_an_error_and_the_next_call_reconnects() -> None:
    transcript = Transcript([
        ("*IDN?", CHROMA_LOAD),
        ("MEAS:VOLT?", "12 V"),
        ("*IDN?", CHROMA_LOAD), ("MEAS:VOLT?", "49.8700"),  # a fresh connection, checked to be the same one
        ("LOAD:PROT?", "1.5"),
        ("*IDN?", "CHROMA,63600-2,OTHER,1.20"),  # someone else answers the reconnect
    ])
    load = chroma_load(transcript.link())
    with pytest.raises(InstrumentReplyError, match="dut: MEAS:VOLT\\?: not a number: '12 V'"):
        load.measure()
    assert load.voltage == 49.87
    assert (len(transcript.opened), transcript.closed) == (2, 1)
    with pytest.raises(InstrumentReplyError, match="not an integer"):
        load.protection_status()
    with pytest.raises(InstrumentReplyError, match="identity changed on reconnect"):
        load.measure()
    transcript.assert_done()


def test_a_query_timeout_is_retried_once_on_a_fresh_connection() -> None:
    with expected_protocol(chroma_load, [
        ("*IDN?", CHROMA_LOAD), ("MEAS:VOLT?", TIMEOUT), ("*IDN?", CHROMA_LOAD), ("MEAS:VOLT?", "49.8700"),
        ("MEAS:VOLT?", "49.8700"), ("MEAS:CURR?", TIMEOUT), ("*IDN?", CHROMA_LOAD), ("MEAS:CURR?", TIMEOUT),
    ]) as load:
        assert load.voltage == 49.87
        with pytest.raises(InstrumentIOError, match="also after reconnecting"):
            load.measure()  # voltage was read; current times out twice


def test_a_write_that_fails_is_not_resent() -> None:
    with expected_protocol(chroma_load, [
        ("*IDN?", CHROMA_LOAD), ("LOAD OFF", TIMEOUT),
        ("*IDN?", CHROMA_LOAD), ("LOAD?", "OFF"),  # the caller reads back instead
    ]) as load:
        with pytest.raises(InstrumentIOError, match="not resent"):
            load.input_off()
        assert load.input_enabled is False


@pytest.mark.parametrize("steps, action, error", [
    ([*written("LOAD OFF"), ("LOAD?", "ON")], lambda d: d.input_off(), ReadbackMismatch),
    ([*written("MODE CCH"), ("MODE?", "CRH")], lambda d: setattr(d, "mode", "CC"), InstrumentReplyError),
    ([("MEAS:VOLT?", "49.87"), ("MEAS:CURR?", "+9.91E+37")], lambda d: d.measure(), InstrumentReplyError),
])
def test_load_replies_that_are_not_what_was_asked(steps: list[Step], action: Callable[[ElectronicLoad], object],
                                                  error: type[Exception]) -> None:
    with expected_protocol(chroma_load, [("*IDN?", CHROMA_LOAD), *steps]) as load, pytest.raises(error):
        action(load)


def test_a_setpoint_outside_the_rating_sends_nothing() -> None:
    with expected_protocol(chroma_load, []) as load:  # not even the connection is opened
        with pytest.raises(ValueError):
            load.set_current(60.5)
        with pytest.raises(ValueError):
            load.set_power(3000.5)
        with pytest.raises(ValueError):
            load.mode = "CR"  # type: ignore[assignment]


# ------------------------------------------------------------------------------ power analyzers
WT_SETUP: list[Step] = [step for command in (
    ":NUMeric:FORMat ASCii", ":NUMeric:NORMal:NUMBer 4", ":NUMeric:NORMal:ITEM1 URMS,1",
    ":NUMeric:NORMal:ITEM2 IRMS,1", ":NUMeric:NORMal:ITEM3 P,1", ":NUMeric:NORMal:ITEM4 LAMBDA,1",
    ":NUMeric:NORMal:ITEM5 WP,1", ":NUMeric:NORMal:ITEM6 IPPeak,1", ":COMMunicate:HEADer OFF") for step in written(command)]


def test_yokogawa_wt5000_transcript() -> None:
    with expected_protocol(PowerAnalyzer, [
        ("*IDN?", WT5000), *WT_SETUP,
        (":NUMeric:NORMal:VALue?", "+2.30120E+02,+1.51230E+01,+3.40900E+03,+9.80000E-01"),
        *written(":INTEGrate:STOP"), *written(":INTEGrate:RESet"), *written(":INTEGrate:STARt"),
        (":NUMeric:NORMal:VALue? 5", "+1.02300E+03"),
        *written(":INTEGrate:STOP"),
        *written(":MEASure:MHOLd OFF"), *written(":MEASure:MHOLd ON"),
        (":NUMeric:NORMal:VALue? 6", "+6.41000E+01"),
    ]) as analyzer:
        assert analyzer.measure() == {"V": 230.12, "A": 15.123, "W": 3409.0, "PF": 0.98}
        analyzer.start_energy()
        assert analyzer.energy_wh() == 1023.0
        analyzer.stop_energy()
        analyzer.arm_inrush()
        assert analyzer.inrush_peak_a() == 64.1


@pytest.mark.parametrize("reply, match", [
    ("+2.3E+02,+1.5E+01,+3.4E+03", "3 values, expected 4"),
    ("+2.3E+02,+1.5E+01,+3.4E+03,+1.5E+00", "power factor 1.5 outside -1..1"),
    ("+2.3E+02,+9.91E+37,+3.4E+03,+9.8E-01", "no valid reading"),
])
def test_wt5000_bad_readings(reply: str, match: str) -> None:
    steps: list[Step] = [("*IDN?", WT5000), *WT_SETUP, (":NUMeric:NORMal:VALue?", reply)]
    with expected_protocol(PowerAnalyzer, steps) as pa, pytest.raises(InstrumentReplyError, match=match):
        pa.measure()


def test_chroma66205_transcript() -> None:
    with expected_protocol(lambda link: PowerAnalyzer(link, "chroma66205"), [
        ("*IDN?", CHROMA_PM),
        ("MEAS? V", "230.05"), ("MEAS? I", "4.3310"), ("MEAS? W", "976.40"), ("MEAS? PF", "0.9800"),
        *written("TRIG:MODE INTEGRATION"), *written("TRIG ON"),
        *written("TRIG OFF"), ("MEAS? WH", "488.2000"),
        *written("TRIG:MODE INRUSH"), *written("TRIG ON"),
        ("FETCH? IS", "52.4000"),
        ("FETCH? IS", "+9.91E+37"),  # never armed on the instrument: no data
        ("*IDN?", CHROMA_PM),  # a reply that is no reading is not trusted: the next call reconnects
        ("MEAS? V", "230.05"), ("MEAS? I", "4.3310"), ("MEAS? W", "976.40"), ("MEAS? PF", "-1.2"),
        ("MEAS? WH", "-3.0"),
    ]) as analyzer:
        assert analyzer.measure() == {"V": 230.05, "A": 4.331, "W": 976.4, "PF": 0.98}
        analyzer.start_energy()
        analyzer.stop_energy()
        assert analyzer.energy_wh() == 488.2
        analyzer.arm_inrush()
        assert analyzer.inrush_peak_a() == 52.4
        with pytest.raises(InstrumentReplyError, match="FETCH\\? IS: no valid reading"):
            analyzer.inrush_peak_a()
        with pytest.raises(InstrumentReplyError, match="MEAS\\? PF: power factor -1.2"):
            analyzer.measure()
        with pytest.raises(InstrumentReplyError, match="negative energy"):
            analyzer.energy_wh()


# ------------------------------------------------------------------------------ DAQ
DAQ_CONFIGURE: list[Step] = [*written("CONF:TEMP TC,K,(@101:104)"), *written("UNIT:TEMP C,(@101:104)"),
                             *written("SENS:TEMP:TRAN:TC:RJUN:TYPE INT,(@101:104)"), *written("ROUT:SCAN (@101:104)")]


def test_keysight_daq970a_transcript() -> None:
    with expected_protocol(lambda link: ThermocoupleDaq(link, "keysight_daq970a", channels=WIRED), [
        ("*IDN?", DAQ970A), *DAQ_CONFIGURE,
        ("READ?", "+3.01200000E+01,+3.98700000E+01,+2.20500000E+01,+3.41000000E+01"),
        ("READ?", "+3.01300000E+01,+3.98800000E+01,+2.20600000E+01,+3.41100000E+01"),  # configured once
        ("MEAS:TEMP? TC,K,(@103)", "+2.20700000E+01"),
        *DAQ_CONFIGURE,  # MEAS:TEMP? redefined the scan list: configure again
        ("READ?", "+3.01200000E+01,+9.91000000E+37,+2.20500000E+01,+3.41000000E+01"),
        ("READ?", "+3.01200000E+01,+3.98700000E+01"),
    ]) as daq:
        assert daq.read() == {"coolant_supply": 30.12, "coolant_return": 39.87, "air_inlet": 22.05, "air_exhaust": 34.1}
        assert daq.read()["air_exhaust"] == 34.11
        assert daq.measure_channel(103) == 22.07
        with pytest.raises(OpenThermocouple) as info:
            daq.read()
        assert (info.value.channel, info.value.point) == (102, "coolant_return")
        with pytest.raises(InstrumentReplyError, match="2 readings for 4 channels"):
            daq.read()


def test_daq_configuration_refused_by_the_instrument() -> None:
    with expected_protocol(lambda link: ThermocoupleDaq(link, channels={101: "a", 105: "b"}), [
        ("*IDN?", DAQ970A), ("CONF:TEMP TC,K,(@101,105)", None),
        ("SYST:ERR?", '-224,"Illegal parameter value; no channel 105"'), ("SYST:ERR?", NO_ERROR),
    ]) as daq, pytest.raises(ScpiError, match="no channel 105"):
        daq.read()


# ------------------------------------------------------------------------------ AC sources
def test_chroma61800_transcript() -> None:
    with expected_protocol(AcSource, [
        ("*IDN?", CHROMA_AC),
        *written("VOLT:AC 230.0"), ("VOLT:AC?", "230.00"),
        *written("FREQ 50.0"), ("FREQ?", "50.00"),
        *written("OUTP ON"), ("OUTP?", "ON"),
        ("MEAS:VOLT:ACDC?", "230.010"), ("MEAS:CURR:AC?", "2.3700"), ("MEAS:POW:AC?", "534.20"),
        ("MEAS:POW:AC:PFAC?", "0.9800"), ("MEAS:FREQ?", "50.00"),
        ("STAT:QUES:COND?", "18"),
        *written("OUTP:PROT:CLE"), ("STAT:QUES:COND?", "0"),
        *written("OUTP OFF"), ("OUTP?", "OFF"),
    ]) as source:
        source.set_voltage(230)
        assert source.voltage_setpoint == 230.0
        source.set_frequency(50)
        assert source.frequency_setpoint == 50.0
        source.output_on()
        assert source.measure() == {"V": 230.01, "A": 2.37, "W": 534.2, "PF": 0.98, "Hz": 50.0}
        assert source.protection_tripped() == {"OCP", "OTP"}
        assert source.clear_protection() == frozenset()
        source.output_off()


def test_keysight_ac6800_transcript() -> None:
    with expected_protocol(lambda link: AcSource(link, "keysight_ac6800", max_voltage_v=300, frequency_hz=(40, 70)), [
        ("*IDN?", KEYSIGHT_AC),
        *written("VOLT 120.0"), *written("FREQ 60.0"),
        *written("OUTP 1"), ("OUTP?", "1"),
        ("MEAS:VOLT:AC?", "+1.20000E+02"), ("MEAS:CURR:AC?", "+4.50000E+00"), ("MEAS:POW:AC?", "+5.29200E+02"),
        ("MEAS:POW:AC:PFAC?", "+9.80000E-01"), ("MEAS:FREQ?", "+6.00000E+01"),
        ("MEAS:VOLT:AC?", "+1.20000E+02"), ("MEAS:CURR:AC?", "-4.50000E+00"),
        *written("OUTP 0"), ("OUTP?", "1"),
    ]) as source:
        source.set_voltage(120)
        source.set_frequency(60)
        with pytest.raises(ValueError):
            source.set_frequency(70.5)  # outside the station's rating: nothing sent
        source.output_on()
        assert source.measure() == {"V": 120.0, "A": 4.5, "W": 529.2, "PF": 0.98, "Hz": 60.0}
        with pytest.raises(InstrumentReplyError, match="MEAS:CURR:AC\\?: A = -4.5 is impossible"):
            source.measure()
        with pytest.raises(ReadbackMismatch, match="read back True"):
            source.output_off()


def test_a_model_without_a_function_says_so() -> None:
    with expected_protocol(chroma_load, []) as load, \
            pytest.raises(UnsupportedCommand, match="chroma63600 has no commands for 'inrush_arm'"):
        load.run_action("inrush_arm")


# ------------------------------------------------------------------------------ the helper itself
@pytest.mark.parametrize("steps, action, message", [
    ([("MEAS:VOLT?", "49.87"), ("MEAS:POW?", "1")], lambda load: load.measure(),
     "step 3: expected 'MEAS:POW\\?', the driver sent 'MEAS:CURR\\?'"),
    ([("LOAD OFF",)], lambda load: load.link.query("LOAD OFF"),
     "step 2: 'LOAD OFF' is a write in the transcript, the driver queried it"),
    ([("LOAD OFF", None), ("LOAD?", "OFF"), ("SYST:ERR?", NO_ERROR)], lambda load: load.link.write("LOAD OFF", check=False),
     "step 3 of 4 never happened: expected 'LOAD\\?' \\(2 step\\(s\\) left\\)"),
    ([("LOAD?", "OFF")], lambda load: load.link.write("LOAD?", check=False),
     "step 2: 'LOAD\\?' expects a query \\(reply 'OFF'\\), the driver only wrote it"),
    ([], lambda load: load.link.query("LOAD?"), "step 2: the driver sent 'LOAD\\?' after the transcript's last step"),
])
def test_a_transcript_mismatch_names_the_step(steps: list[Step], action: Callable[[ElectronicLoad], object],
                                              message: str) -> None:
    with pytest.raises(TranscriptMismatch, match=message), \
            expected_protocol(chroma_load, [("*IDN?", CHROMA_LOAD), *steps]) as load:
        action(load)
