"""Transports: the byte pipes between a driver and an instrument (VISA or serial).

Why a separate layer: a driver only needs ``write``/``read``/``query`` of text messages and a
binary-block write. Keeping that behind one small interface lets the same driver talk to a real
instrument through pyvisa or pyserial, to the simulated bench through the same stacks, or to a
scripted transcript in protocol tests (``qkdlab.testing.ProtocolTransport``), with no special cases.

Every transport
- holds one re-entrant lock, taken around every write+read transaction, so two threads sharing an
  instrument never interleave their exchanges (pyvisa and pyserial are not thread safe themselves);
- logs every exchange at DEBUG on ``qkdlab.io.<instrument name>``;
- works in seconds for timeouts (pyvisa uses ms internally);
- maps library exceptions to qkdlab's typed errors (``Timeout``, ``InstrumentConnectionError``);
- can ``reconnect()`` with bounded retries, restoring exactly the settings it was opened with.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..errors import InstrumentConnectionError, Timeout
from ..interrupts import delayed_keyboard_interrupt

__all__ = ["Transport", "VisaTransport", "SerialTransport", "ieee_block"]


def ieee_block(data: np.ndarray | bytes) -> bytes:
    """Encode bytes (or a numpy array's raw little/big-endian bytes) as an IEEE 488.2 definite block.

    ``#<n><length><bytes>`` where n is the number of digits of length. Done with numpy's buffer
    so a million-sample waveform costs one copy, not a Python loop.
    """
    payload = data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
    length = str(len(payload))
    if len(length) > 9:
        raise ValueError(f"IEEE 488.2 definite blocks hold at most 999999999 bytes, not {len(payload)}")
    return b"#" + str(len(length)).encode() + length.encode() + payload


class Transport(ABC):
    """A message-based connection to one instrument.

    Subclasses implement ``_open``, ``_close``, ``_write_bytes`` and ``_read_message``; this base
    class adds locking, logging, encoding and reconnection.
    """

    encoding = "ascii"

    def __init__(self, name: str, *, timeout: float = 2.0, write_termination: str = "\n",
                 read_termination: str = "\n") -> None:
        self.name = name
        self.lock = threading.RLock()
        self.log = logging.getLogger(f"qkdlab.io.{name}")
        self._timeout = float(timeout)
        self.write_termination = write_termination
        self.read_termination = read_termination
        self.is_open = False

    # -- what subclasses provide -------------------------------------------------------------
    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    @abstractmethod
    def _write_bytes(self, data: bytes) -> None: ...

    @abstractmethod
    def _read_message(self) -> bytes:
        """Return one complete reply without its read termination; raise Timeout if none comes."""

    def _apply_timeout(self) -> None:  # noqa: B027 - optional hook, most transports need it
        """Push ``self._timeout`` to the underlying library (no-op where it is read on each call)."""

    def clear(self) -> None:  # noqa: B027 - optional hook: not every link has an input buffer
        """Discard anything pending in the input buffer (after a timeout, before a retry)."""

    # -- public API --------------------------------------------------------------------------
    @property
    def timeout(self) -> float:
        """Read/write timeout in seconds."""
        return self._timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self._timeout = float(seconds)
        if self.is_open:
            self._apply_timeout()

    def open(self) -> None:
        with self.lock:
            if not self.is_open:
                self._open()
                self.is_open = True
                self._apply_timeout()

    def close(self) -> None:
        with self.lock:
            if self.is_open:
                try:
                    self._close()
                finally:
                    self.is_open = False

    @contextmanager
    def transaction(self) -> Iterator[Transport]:
        """Hold the lock (and any Ctrl-C) for a sequence of exchanges that must not be interleaved."""
        with self.lock, delayed_keyboard_interrupt():
            yield self

    def write(self, message: str) -> None:
        """Send one text message (the write termination is appended)."""
        with self.lock, delayed_keyboard_interrupt():
            self.log.debug("WRITE %r", message)
            self._write_bytes((message + self.write_termination).encode(self.encoding))

    def write_block(self, header: str, block: bytes) -> None:
        """Send ``header`` followed by a binary block (already encoded) and the write termination."""
        with self.lock, delayed_keyboard_interrupt():
            self.log.debug("WRITE %r + binary block of %d bytes", header, len(block))
            self._write_bytes(header.encode(self.encoding) + block + self.write_termination.encode())

    def read(self) -> str:
        """Read one reply as text, termination stripped."""
        with self.lock:
            raw = self._read_message()
            try:
                text = raw.decode(self.encoding)
            except UnicodeDecodeError:
                # Keep the bytes visible: a garbled reply is the driver's ProtocolError to raise.
                text = raw.decode("latin-1")
            self.log.debug("READ %r", text)
            return text

    def query(self, message: str) -> str:
        """Write a message and read its reply as one locked transaction; a Ctrl-C waits for the reply."""
        with self.lock, delayed_keyboard_interrupt():
            self.write(message)
            return self.read()

    def reconnect(self, retries: int = 3, delay: float = 0.2) -> None:
        """Close and reopen with the same settings, trying up to ``retries`` times.

        Raises ``InstrumentConnectionError`` naming the last failure when every attempt fails.
        """
        last: Exception | None = None
        with self.lock:
            for attempt in range(1, retries + 1):
                try:
                    self.close()
                except Exception as exc:  # a dead link may fail to close; reopening is what counts
                    self.log.debug("close before reconnect failed: %s", exc)
                    self.is_open = False
                try:
                    self.open()
                    self.log.info("reconnected on attempt %d", attempt)
                    return
                except Exception as exc:
                    last = exc
                    self.log.warning("reconnect attempt %d/%d failed: %s", attempt, retries, exc)
                    time.sleep(delay * attempt)
        raise InstrumentConnectionError(
            f"{self.name}: could not reconnect after {retries} attempts ({last}); "
            "check power, cable and address") from last


class VisaTransport(Transport):
    """A pyvisa message-based resource (USB-TMC, GPIB, TCPIP, ASRL).

    ``visa_library`` is what ``pyvisa.ResourceManager`` takes: ``""`` for the system default,
    ``"@py"`` for pyvisa-py, ``"file.yaml@sim"`` for pyvisa-sim, ``"@qkdsim"`` for qkdlab's
    simulated bench. Resource managers are shared per library, and never closed by one
    instrument, because closing a shared manager kills every other session on it.
    """

    _managers: dict[str, Any] = {}
    _managers_lock = threading.Lock()

    def __init__(self, resource_name: str, *, name: str | None = None, visa_library: str = "",
                 timeout: float = 2.0, write_termination: str = "\n", read_termination: str = "\n",
                 **resource_settings: Any) -> None:
        super().__init__(name or resource_name, timeout=timeout, write_termination=write_termination,
                         read_termination=read_termination)
        self.resource_name = resource_name
        self.visa_library = visa_library
        self.resource_settings = resource_settings
        self._resource: Any = None

    @classmethod
    def resource_manager(cls, visa_library: str) -> Any:
        import pyvisa

        with cls._managers_lock:
            rm = cls._managers.get(visa_library)
            if rm is None or not rm.session:
                rm = pyvisa.ResourceManager(visa_library)
                cls._managers[visa_library] = rm
            return rm

    def _open(self) -> None:
        import pyvisa

        try:
            rm = self.resource_manager(self.visa_library)
            self._resource = rm.open_resource(
                self.resource_name, read_termination=self.read_termination,
                write_termination="", **self.resource_settings)
        except (pyvisa.Error, OSError, ValueError) as exc:
            raise InstrumentConnectionError(
                f"{self.name}: cannot open VISA resource {self.resource_name!r} "
                f"(library {self.visa_library or 'default'!r}): {exc}") from exc

    def _close(self) -> None:
        resource, self._resource = self._resource, None
        if resource is not None:
            resource.close()

    def _apply_timeout(self) -> None:
        if self._resource is not None:
            self._resource.timeout = self._timeout * 1000.0

    def _require_open(self) -> Any:
        if self._resource is None:
            raise InstrumentConnectionError(f"{self.name}: not connected; call open() or reconnect()")
        return self._resource

    def _translate(self, exc: Exception, doing: str) -> Exception:
        import pyvisa

        if isinstance(exc, pyvisa.errors.VisaIOError) and exc.error_code == pyvisa.constants.StatusCode.error_timeout:
            return Timeout(f"{self.name}: timeout after {self._timeout:g} s while {doing}")
        return InstrumentConnectionError(f"{self.name}: I/O failed while {doing}: {exc}")

    def _write_bytes(self, data: bytes) -> None:
        import pyvisa

        resource = self._require_open()
        try:
            resource.write_raw(data)
        except (pyvisa.Error, OSError) as exc:
            raise self._translate(exc, "writing") from exc

    def _read_message(self) -> bytes:
        import pyvisa

        resource = self._require_open()
        try:
            raw = bytes(resource.read_raw())
        except (pyvisa.Error, OSError) as exc:
            raise self._translate(exc, "reading") from exc
        term = self.read_termination.encode()
        return raw[: -len(term)] if term and raw.endswith(term) else raw

    def clear(self) -> None:
        import pyvisa

        if self._resource is not None:
            try:
                self._resource.clear()
            except (pyvisa.Error, OSError, NotImplementedError) as exc:
                self.log.debug("device clear not supported/failed: %s", exc)


class SerialTransport(Transport):
    """A pyserial port or URL (``/dev/ttyUSB0``, ``COM3``, ``socket://host:port``, ``qkdsim://...``).

    Framing is by terminator, as RS-232 instruments such as the Thorlabs MBX use. Serial settings
    (baud rate, parity, ...) are kept so ``reconnect`` reopens the port exactly as before.
    """

    def __init__(self, port: str, *, name: str | None = None, baudrate: int = 115200,
                 bytesize: int = 8, parity: str = "N", stopbits: float = 1, timeout: float = 1.0,
                 write_termination: str = "\r", read_termination: str = "\r") -> None:
        super().__init__(name or port, timeout=timeout, write_termination=write_termination,
                         read_termination=read_termination)
        self.port = port
        self.serial_settings = {"baudrate": baudrate, "bytesize": bytesize, "parity": parity,
                                "stopbits": stopbits}
        self._serial: Any = None

    def _open(self) -> None:
        import serial

        try:
            self._serial = serial.serial_for_url(self.port, timeout=self._timeout,
                                                 write_timeout=self._timeout, **self.serial_settings)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise InstrumentConnectionError(f"{self.name}: cannot open serial port {self.port!r}: {exc}") from exc

    def _close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            port.close()

    def _apply_timeout(self) -> None:
        if self._serial is not None:
            self._serial.timeout = self._timeout
            self._serial.write_timeout = self._timeout

    def _require_open(self) -> Any:
        if self._serial is None:
            raise InstrumentConnectionError(f"{self.name}: not connected; call open() or reconnect()")
        return self._serial

    def _write_bytes(self, data: bytes) -> None:
        import serial

        port = self._require_open()
        try:
            port.write(data)
            port.flush()
        except serial.SerialTimeoutException as exc:
            raise Timeout(f"{self.name}: write timeout after {self._timeout:g} s") from exc
        except (serial.SerialException, OSError) as exc:
            raise InstrumentConnectionError(f"{self.name}: serial write failed: {exc}") from exc

    def _read_message(self) -> bytes:
        import serial

        port = self._require_open()
        term = self.read_termination.encode()
        try:
            raw = port.read_until(term)
        except (serial.SerialException, OSError) as exc:
            raise InstrumentConnectionError(f"{self.name}: serial read failed: {exc}") from exc
        if not raw.endswith(term):
            raise Timeout(f"{self.name}: timeout after {self._timeout:g} s waiting for a reply "
                          f"(got {raw!r} without terminator {self.read_termination!r})")
        return raw[: -len(term)]

    def clear(self) -> None:
        if self._serial is not None:
            self._serial.reset_input_buffer()
