"""pyserial URL handler for ``qkdsim://<instrument>[?bench=<key>]``: serial instruments of the simulated bench.

Importing ``qkdlab.sim`` appends ``qkdlab.sim`` to ``serial.protocol_handler_packages``, so
``serial.serial_for_url("qkdsim://bias")`` opens this class. The driver's ``SerialTransport``
runs unchanged: bytes are framed by the device's terminator exactly as on RS-232, and a port
opened with the wrong baud rate gets no answers (the device sees line noise), as on hardware.
"""

from __future__ import annotations

import time
import urllib.parse

from serial.serialutil import PortNotOpenError, SerialBase, SerialException, SerialTimeoutException

from .instruments.base import Emulator, LinkDown
from .registry import lookup

__all__ = ["Serial"]


class Serial(SerialBase):
    """A serial port whose other end is an emulated instrument."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self._emulator: Emulator | None = None
        self._in = bytearray()   # bytes from the host not yet framed into a message
        self._out = bytearray()  # reply bytes not yet read by the host
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self.is_open:
            raise SerialException("port already open")
        if self._port is None:
            raise SerialException("port must be configured before it can be used")
        self._emulator = self.from_url(self.portstr)
        try:
            self._emulator.connect()
        except LinkDown as exc:
            raise SerialException(f"could not open {self.portstr}: {exc}") from exc
        self._in.clear()
        self._out.clear()
        self.is_open = True

    def close(self) -> None:
        self.is_open = False
        self._emulator = None

    def _reconfigure_port(self) -> None:
        """Line settings are checked on every exchange (see ``_line_ok``)."""

    def from_url(self, url: str) -> Emulator:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "qkdsim":
            raise SerialException(f"expected a URL of the form qkdsim://<instrument>, not {url!r}")
        name = (parts.netloc + parts.path).strip("/")
        query = urllib.parse.parse_qs(parts.query)
        key = query.get("bench", [None])[0]
        bench = lookup(key)
        if bench is None:
            raise SerialException(f"no simulated bench {'active' if key is None else repr(key)} for {url!r}; "
                                  "start one with qkdlab.sim.SimulatedBench")
        emulator = bench.emulator_for_serial(name)
        if emulator is None:
            raise SerialException(f"the simulated bench has no serial instrument {name!r}")
        return emulator

    def _line_ok(self) -> bool:
        expected = (self._emulator.serial_settings or {}) if self._emulator else {}
        return all(getattr(self, key) == value for key, value in expected.items())

    @property
    def in_waiting(self) -> int:
        self._pull(0.0)
        return len(self._out)

    def _pull(self, timeout: float) -> None:
        if self._emulator is None:
            raise PortNotOpenError()
        try:
            reply = self._emulator.take_reply(timeout)
        except LinkDown as exc:
            raise SerialException(f"device disconnected: {exc}") from exc
        if reply is not None:
            self._out += reply

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise PortNotOpenError()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while len(self._out) < size:
            remaining = 3600.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                break
            before = len(self._out)
            self._pull(remaining)
            if len(self._out) == before:
                break  # nothing more will come within the timeout
        data = bytes(self._out[:size])
        del self._out[:size]
        return data

    def write(self, data: bytes) -> int:
        if not self.is_open or self._emulator is None:
            raise PortNotOpenError()
        if self._write_timeout == 0 and len(data) > 4096:
            raise SerialTimeoutException("write timeout")
        if not self._line_ok():
            return len(data)  # wrong baud rate / framing: the device cannot make sense of it
        self._in += data
        term = self._emulator.write_termination
        while True:
            index = self._in.find(term)
            if index < 0:
                break
            message = bytes(self._in[:index])
            del self._in[: index + len(term)]
            try:
                self._emulator.receive(message)
            except LinkDown as exc:
                raise SerialException(f"device disconnected: {exc}") from exc
        return len(data)

    def reset_input_buffer(self) -> None:
        self._out.clear()
        if self._emulator is not None:
            self._emulator.clear_output()

    def reset_output_buffer(self) -> None:
        self._in.clear()

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
