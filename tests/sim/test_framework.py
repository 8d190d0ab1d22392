"""The simulation framework through the real stacks: @qkdsim pyvisa backend, qkdsim:// serial URLs,
SCPI parsing, fault injection, recovery and thread safety."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from qkdlab.drivers.base import Instrument, SCPIInstrument, control
from qkdlab.drivers.transport import SerialTransport, VisaTransport, ieee_block
from qkdlab.errors import InstrumentConnectionError, InstrumentReportedError, ProtocolError, Timeout
from qkdlab.sim import SimInstrument, SimulatedBench
from qkdlab.sim.instruments.base import (
    Emulator,
    ScpiArgumentError,
    ScpiEmulator,
    _compile,
    parse_ieee_block,
    parse_number,
    scpi,
    split_messages,
)
from qkdlab.units import Q_

RESOURCE = "USB0::0x1234::0x5678::SIM42::INSTR"


class ToyEmulator(ScpiEmulator):
    idn = "ACME,Toy Source,SIM42,1.0"

    def reset(self) -> None:
        self.frequency = 1000.0
        self.blocks: list[bytes] = []

    @scpi("[SOURce{ch}:]FREQuency?")
    def _freq_q(self, args: str, ch: int) -> str:
        return f"{self.frequency:.9g}"

    @scpi("[SOURce{ch}:]FREQuency")
    def _freq(self, args: str, ch: int) -> None:
        self.frequency = self.check_range("frequency", parse_number(args, units=("HZ",)), 1.0, 1e6)

    @scpi("ECHO?")
    def _echo(self, args: str) -> str:
        return args

    @scpi("DATA:BLOCK")
    def _block(self, args: str) -> None:
        payload, _ = parse_ieee_block(args.encode("latin-1"))
        self.blocks.append(payload)


class ToySource(SCPIInstrument):
    frequency = control("FREQ?", "FREQ {value:.9g}", "Control the frequency (Hz).", unit="Hz")


class ToySerialEmulator(Emulator):
    read_termination = b"\r"
    write_termination = b"\r"
    serial_settings = {"baudrate": 115200}

    def __init__(self, model, name, **options):
        super().__init__(model, name, **options)
        self.level = 0

    def handle(self, message: bytes) -> bytes | None:
        text = message.decode()
        if text == "LEVEL?":
            return str(self.level).encode()
        if text.startswith("LEVEL: "):
            self.level = int(text.split()[1])
            return None
        return b"ERR"


class ToySerial(Instrument):
    interface = "serial"
    default_settings = {"baudrate": 115200, "write_termination": "\r", "read_termination": "\r", "timeout": 0.2}
    level = control("LEVEL?", "LEVEL: {value:d}", "Control the level.", cast=int, unit="")

    def check_set(self, ctl, command, expected):
        self.verify_readback(ctl, command, expected)


@pytest.fixture
def bench():
    sim = SimulatedBench([SimInstrument("toy", "toy", RESOURCE, emulator=ToyEmulator),
                          SimInstrument("serial", "toy_serial", "", emulator=ToySerialEmulator)], seed=3)
    yield sim
    sim.close()


@pytest.fixture
def toy(bench):
    source = ToySource(RESOURCE, "toy", visa_library=bench.visa_library, timeout=0.3)
    yield source
    source.close()


# -- SCPI parsing -----------------------------------------------------------------------------


def test_scpi_headers_accept_long_and_short_forms_and_optional_nodes() -> None:
    regex = _compile("[SOURce{ch}:]FUNCtion:ARBitrary:SRATe?")
    assert regex.match("SOUR2:FUNC:ARB:SRAT?").group("ch") == "2"
    assert regex.match(":source:function:arbitrary:srate?")
    assert regex.match("FUNC:ARB:SRAT?").group("ch") is None
    assert not regex.match("SOURC:FUNC:ARB:SRAT?")  # neither the short nor the long form
    assert not regex.match("FUNC:ARB:SRAT")  # a set is not a query
    assert _compile("SYSTem:ERRor[:NEXT]?").match("SYST:ERR:NEXT?")


def test_compound_messages_split_outside_quotes_and_binary_blocks() -> None:
    block = b"#16;\n;\x00\x01;"
    parts = split_messages(b'DISP:TEXT "a;b";DATA:BLOCK ' + block + b";*OPC?")
    assert parts == [b'DISP:TEXT "a;b"', b"DATA:BLOCK #16;\n;\x00\x01;", b"*OPC?"]
    # a block whose last byte is white space keeps it; the terminator after it goes
    assert split_messages(b"DATA:BLOCK #12\x00\n\n") == [b"DATA:BLOCK #12\x00\n"]


def test_numbers_with_engineering_suffixes() -> None:
    assert parse_number("1550NM", units=("M",)) == pytest.approx(1.55e-6)
    assert parse_number("100MS", units=("S",)) == pytest.approx(0.1)
    assert parse_number("2.5KHZ", units=("HZ",)) == pytest.approx(2500)
    assert parse_number("MAX", maximum=7.0) == 7.0
    with pytest.raises(ScpiArgumentError):
        parse_number("12 parsecs", units=("M",))


# -- through pyvisa --------------------------------------------------------------------------


def test_visa_round_trip_and_error_queue(bench, toy) -> None:
    assert toy.identify().model == "Toy Source"
    toy.frequency = Q_(2.5, "kHz")
    assert bench.emulators["toy"].frequency == 2500.0
    assert toy.frequency == Q_(2500, "Hz")
    with pytest.raises(InstrumentReportedError) as info:
        toy.frequency = 5e6
    assert info.value.code == -222 and info.value.command == "FREQ 5000000"
    assert bench.visa_resources() == [RESOURCE]


def test_unknown_header_is_queued_as_scpi_error(bench, toy) -> None:
    toy.write("BOGUS:CMD 1")
    with pytest.raises(InstrumentReportedError, match="-113"):
        toy.check_errors("BOGUS:CMD 1")


def test_binary_block_reaches_the_emulator_intact(bench, toy) -> None:
    samples = np.array([0, 10, 59, -32767, 32767, 0x0A0A], dtype="<i2")  # '\n' and ';' bytes, '\n' last
    toy.write_block("DATA:BLOCK ", ieee_block(samples))
    assert np.array_equal(np.frombuffer(bench.emulators["toy"].blocks[-1], "<i2"), samples)


def test_unknown_resource_and_unregistered_bench(bench) -> None:
    with pytest.raises(InstrumentConnectionError, match="cannot open VISA resource"):
        ToySource("GPIB0::9::INSTR", "nobody", visa_library=bench.visa_library)
    bench.close()
    with pytest.raises(InstrumentConnectionError):
        ToySource(RESOURCE, "late", visa_library=bench.visa_library)


def test_benches_do_not_share_state() -> None:
    with SimulatedBench([SimInstrument("toy", "toy", RESOURCE, emulator=ToyEmulator)]) as first, \
            SimulatedBench([SimInstrument("toy", "toy", RESOURCE, emulator=ToyEmulator)]) as second:
        a = ToySource(RESOURCE, "a", visa_library=first.visa_library)
        b = ToySource(RESOURCE, "b", visa_library=second.visa_library)
        a.frequency = 123
        assert b.frequency == Q_(1000, "Hz")
        assert first.emulators["toy"].frequency == 123


# -- faults ----------------------------------------------------------------------------------


def test_single_timeout_is_retried(bench, toy) -> None:
    bench.emulators["toy"].faults.timeout(1)
    assert toy.frequency == Q_(1000, "Hz")


def test_persistent_timeout_reconnects_then_raises_typed_error(bench, toy) -> None:
    toy.frequency = 777
    emulator = bench.emulators["toy"]
    emulator.faults.timeout(100)  # the instrument has stopped answering
    with pytest.raises(Timeout, match="after a retry and a reconnect"):
        toy.frequency
    # the reconnect cleared the status and tried to re-apply the cached setpoint
    assert emulator.sent_messages().count(b"FREQ 777") == 2
    assert b"*CLS" in emulator.sent_messages()


def test_garbage_reply_is_a_protocol_error(bench, toy) -> None:
    bench.emulators["toy"].faults.garbage(1)
    with pytest.raises(ProtocolError, match="garbling"):
        toy.frequency


def test_disconnect_is_recovered_by_reconnect_with_setpoints(bench, toy) -> None:
    toy.frequency = 4321
    emulator = bench.emulators["toy"]
    emulator.faults.disconnect_after(0, refuse_reopen=1)
    emulator.frequency = 1.0  # the instrument lost its state while unplugged
    assert toy.frequency == Q_(4321, "Hz")  # reconnected (second attempt), setpoint restored, then read
    assert emulator.frequency == 4321


def test_link_that_stays_down_raises_connection_error(bench, toy) -> None:
    emulator = bench.emulators["toy"]
    emulator.faults.disconnect_after(0, refuse_reopen=100)
    with pytest.raises(InstrumentConnectionError, match="could not reconnect after 3 attempts"):
        toy.frequency


def test_slow_reply_within_and_beyond_the_timeout(bench, toy) -> None:
    emulator = bench.emulators["toy"]
    emulator.faults.slow(0.05, replies=1)
    assert toy.frequency == Q_(1000, "Hz")
    emulator.faults.slow(1.0, replies=1)  # beyond the 0.3 s timeout: retried, and the retry answers
    assert toy.frequency == Q_(1000, "Hz")


def test_two_threads_never_interleave_transactions(bench, toy) -> None:
    bench.emulators["toy"].faults.slow(0.0005, replies=10_000)  # widen the race window
    wrong: list[tuple[str, str]] = []

    def hammer(tag: str) -> None:
        for i in range(150):
            expected = f"{tag}{i}"
            reply = toy.ask(f"ECHO? {expected}")
            if reply != expected:
                wrong.append((expected, reply))

    threads = [threading.Thread(target=hammer, args=(t,)) for t in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


# -- through pyserial ------------------------------------------------------------------------


def test_serial_round_trip_with_readback_verification(bench) -> None:
    inst = ToySerial(bench.serial_url("serial"), "serial")
    inst.level = 42
    assert bench.emulators["serial"].level == 42
    assert inst.level == 42
    inst.close()


def test_serial_wrong_baud_rate_gets_no_answer(bench) -> None:
    inst = ToySerial(bench.serial_url("serial"), "serial", baudrate=9600, reconnect_retries=1)
    with pytest.raises(Timeout):
        inst.level
    assert bench.emulators["serial"].sent_messages() == []


def test_serial_url_errors_are_clear(bench) -> None:
    with pytest.raises(InstrumentConnectionError, match="no serial instrument 'nothing'"):
        SerialTransport(bench.serial_url("nothing"), name="x").open()


# -- pyvisa-sim plumbing ---------------------------------------------------------------------

PLUMBING = Path(__file__).resolve().parents[2] / "qkdlab" / "sim" / "plumbing.yaml"


@pytest.mark.parametrize("resource, read_termination", [
    ("USB0::0x0957::0x5707::MY59000001::INSTR", "\n"),
    ("TCPIP0::192.168.1.20::inst0::INSTR", "\n"),
    ("GPIB0::22::INSTR", "\n"),
    ("ASRL1::INSTR", "\r\n"),
])
def test_pyvisa_sim_plumbing_resource_strings_and_terminators(resource: str, read_termination: str) -> None:
    transport = VisaTransport(resource, visa_library=f"{PLUMBING}@sim", read_termination=read_termination,
                              write_termination="\n", timeout=0.5)
    inst = ToySource(transport, "plumbing")
    try:
        assert inst.identify().manufacturer == "qkdlab plumbing"
        inst.frequency = 2000
        assert inst.frequency == Q_(2000, "Hz")
    finally:
        inst.close()


def test_pyvisa_sim_read_termination_mismatch_leaves_stray_characters() -> None:
    transport = VisaTransport("ASRL1::INSTR", visa_library=f"{PLUMBING}@sim", read_termination="\n",
                              write_termination="\n", timeout=0.2)
    inst = ToySource(transport, "plumbing", reconnect_retries=1)
    try:
        reply = inst.ask("*IDN?")
        # the reply keeps a stray '\r' because the terminator in use is only '\n'
        assert reply.endswith("\r")
    finally:
        inst.close()
