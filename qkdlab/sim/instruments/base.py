"""Emulator base classes: message handling, SCPI parsing, error queues and fault injection.

An emulator is the instrument end of a simulated link. The pyvisa backend (``qkdlab.sim.visa``)
and the pyserial URL handler (``qkdlab.sim.protocol_qkdsim``) deliver each complete message to
``Emulator.receive`` and collect replies with ``Emulator.take_reply``; every emulator reads and
writes the one shared physics model, so instruments are coupled as on a real bench.

Faults (``FaultInjector``) act at this level, so they look to the driver exactly as a misbehaving
instrument does through the real stacks: a reply that never comes (timeout), garbled bytes, a link
that drops after N messages (and may refuse the first reopen attempts), a slow reply, an entry in
the error queue.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["Emulator", "ScpiEmulator", "FaultInjector", "LinkDown", "scpi", "parse_number", "split_messages",
           "parse_ieee_block", "ScpiArgumentError"]


class LinkDown(Exception):
    """The simulated link is down (unplugged cable, powered-off instrument)."""


class ScpiArgumentError(ValueError):
    """A command's argument is invalid; carries the SCPI error code to queue."""

    def __init__(self, message: str, code: int = -224) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class FaultInjector:
    """Faults to inject into one emulated instrument's link. Counters count messages or replies."""

    drop_replies: int = 0
    garbage_replies: int = 0
    disconnect_countdown: int | None = None
    refuse_reopen: int = 0
    slow_delay: float = 0.0
    slow_replies: int = 0
    down: bool = False

    def timeout(self, replies: int = 1) -> None:
        """The next ``replies`` replies are never sent (the driver's read times out)."""
        self.drop_replies += replies

    def garbage(self, replies: int = 1) -> None:
        """The next ``replies`` replies are replaced by bytes that follow no protocol."""
        self.garbage_replies += replies

    def disconnect_after(self, messages: int, refuse_reopen: int = 0) -> None:
        """Drop the link after ``messages`` more messages; the first ``refuse_reopen`` reopens fail."""
        self.disconnect_countdown = messages
        self.refuse_reopen = refuse_reopen

    def slow(self, delay: float, replies: int = 1) -> None:
        """Delay the next ``replies`` replies by ``delay`` seconds of wall-clock time."""
        self.slow_delay = delay
        self.slow_replies = replies

    def clear(self) -> None:
        """Remove every pending fault and bring the link back up."""
        self.__init__()  # type: ignore[misc]


GARBAGE = b"\xfe\x13?!\x8a\x00\xff"


class Emulator:
    """An instrument end of a simulated link.

    Subclasses implement ``handle(message) -> reply | None`` for one complete message (terminator
    already stripped) and set ``read_termination`` (what replies end with) and
    ``write_termination`` (what incoming messages end with, used by serial framing).
    """

    read_termination: ClassVar[bytes] = b"\n"
    write_termination: ClassVar[bytes] = b"\n"
    #: Serial line settings the emulated device expects (None: not a serial device).
    serial_settings: ClassVar[dict[str, Any] | None] = None

    def __init__(self, model: Any, name: str, **options: Any) -> None:
        self.model = model
        self.name = name
        self.options = options
        self.faults = FaultInjector()
        #: Command headers this instrument's firmware does not know (option ``unknown_commands``):
        #: they get no reply, as an instrument answers a query it does not understand, so a test or
        #: a bench probe can see what a driver does when a query is unsupported.
        self.unknown_commands: set[str] = {_header(c) for c in options.get("unknown_commands", ())}
        self.transcript: list[tuple[str, bytes]] = []
        self._replies: collections.deque[tuple[float, bytes]] = collections.deque()
        self._lock = threading.Lock()

    # -- link side ---------------------------------------------------------------------------
    def connect(self) -> None:
        """Called when a session opens the resource; fails while the link is down."""
        with self._lock:
            if self.faults.down:
                if self.faults.refuse_reopen > 0:
                    self.faults.refuse_reopen -= 1
                    raise LinkDown(f"{self.name}: link down")
                self.faults.down = False
            self._replies.clear()

    def receive(self, message: bytes) -> None:
        """Take one complete message from the driver, process it and queue any reply."""
        with self._lock:
            faults = self.faults
            if faults.down:
                raise LinkDown(f"{self.name}: link down")
            if faults.disconnect_countdown is not None:
                if faults.disconnect_countdown <= 0:
                    faults.down = True
                    faults.disconnect_countdown = None
                    self._replies.clear()
                    raise LinkDown(f"{self.name}: link dropped")
                faults.disconnect_countdown -= 1
            self.transcript.append(("write", message))
            if self.unknown_commands and _header(message.decode("latin-1")) in self.unknown_commands:
                self.refuse_unknown(message)
                return
            reply = self.handle(message)
            if reply is None:
                return
            if faults.drop_replies > 0:
                faults.drop_replies -= 1
                return
            if faults.garbage_replies > 0:
                faults.garbage_replies -= 1
                reply = GARBAGE
            ready = time.monotonic()
            if faults.slow_replies > 0:
                faults.slow_replies -= 1
                ready += faults.slow_delay
            self.transcript.append(("read", reply))
            self._replies.append((ready, reply + self.read_termination))

    def take_reply(self, timeout: float) -> bytes | None:
        """Return the next queued reply (with termination), waiting up to ``timeout`` s; None if none."""
        with self._lock:
            if self.faults.down:
                raise LinkDown(f"{self.name}: link down")
            if not self._replies:
                return None
            ready, reply = self._replies[0]
        wait = ready - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, timeout))
            if wait > timeout:
                return None
        with self._lock:
            self._replies.popleft()
        return reply

    def clear_output(self) -> None:
        """Device clear: forget unread replies."""
        with self._lock:
            self._replies.clear()

    def sent_messages(self) -> list[bytes]:
        """Every message the driver wrote, in order (for tests that prove what reached the device)."""
        return [data for direction, data in self.transcript if direction == "write"]

    # -- instrument side ---------------------------------------------------------------------
    def handle(self, message: bytes) -> bytes | None:
        raise NotImplementedError

    def refuse_unknown(self, message: bytes) -> None:
        """React to a command the firmware does not know (default: silence, no state change)."""


def _header(command: str) -> str:
    """The header of a command as the unknown-command fault compares it: no leading ':', upper case."""
    return command.strip().split(" ", 1)[0].lstrip(":").upper()


# ---------------------------------------------------------------------------------------------
# SCPI


def _keyword_regex(keyword: str) -> str:
    """``SOURce`` -> ``SOUR(?:CE)?``; ``{ch}`` -> a named numeric suffix group."""
    out = []
    for part in re.split(r"(\{\w+\})", keyword):
        if not part:
            continue
        if part.startswith("{"):
            out.append(rf"(?P<{part[1:-1]}>\d*)")
            continue
        short = "".join(ch for ch in part if ch.isupper() or ch.isdigit() or ch in "*?")
        rest = part[len(short):].upper()
        if not part.startswith(short):
            raise ValueError(f"SCPI keyword {part!r}: the short form must be the upper-case prefix")
        out.append(re.escape(short) + (f"(?:{re.escape(rest)})?" if rest else ""))
    return "".join(out)


def _compile(pattern: str) -> re.Pattern[str]:
    """Compile ``[SOURce{ch}:]FUNCtion:ARBitrary:SRATe?`` into a header regex."""
    query = pattern.endswith("?")
    body = pattern[:-1] if query else pattern
    regex = ""
    for token in re.split(r"(\[[^\]]*\])", body):
        if not token:
            continue
        if token.startswith("["):
            inner = token[1:-1]
            parts = [p for p in inner.split(":") if p]
            sub = ":".join(_keyword_regex(p) for p in parts)
            regex += f"(?:{sub}:)?" if inner.endswith(":") else f"(?::{sub})?"
        else:
            parts = token.split(":")
            regex += ":".join(_keyword_regex(p) if p else "" for p in parts)
    return re.compile(r"^:?" + regex + (r"\?" if query else "") + r"$", re.IGNORECASE)


def scpi(*patterns: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an emulator method for SCPI headers (queries end with ``?``).

    The method is called as ``method(self, args: str, **suffixes)`` where numeric suffix groups
    such as ``{ch}`` arrive as ints (1 when omitted, as SCPI specifies).
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn._scpi_patterns = getattr(fn, "_scpi_patterns", ()) + patterns  # type: ignore[attr-defined]
        return fn

    return decorate


def split_messages(data: bytes) -> list[bytes]:
    """Split a program message on ``;`` outside quotes and outside IEEE 488.2 definite blocks.

    Surrounding white space (and the message terminator) is removed from each part, but never
    from inside a binary block, whose bytes may well be 0x0A or 0x20.
    """
    parts: list[bytes] = []
    start = i = 0
    block_end = 0  # end of the last binary block in the current part
    in_quote = False
    n = len(data)

    def close_part(end: int) -> None:
        part = data[start:end].lstrip()
        keep = max(block_end - start, 0)  # bytes that belong to a block are kept as they are
        head, tail = data[start:start + keep], data[start + keep:end]
        part = (head + tail.rstrip()).lstrip() if keep else part.rstrip()
        if part:
            parts.append(part)

    while i < n:
        c = data[i]
        if c == 0x22:  # "
            in_quote = not in_quote
        elif not in_quote and c == 0x23 and i + 1 < n and 0x31 <= data[i + 1] <= 0x39:  # '#1'..'#9'
            digits = data[i + 1] - 0x30
            length = int(data[i + 2:i + 2 + digits])
            i += 2 + digits + length
            block_end = i
            continue
        elif not in_quote and c == 0x3B:  # ;
            close_part(i)
            start = i + 1
        i += 1
    close_part(n)
    return parts


def parse_ieee_block(data: bytes) -> tuple[bytes, bytes]:
    """Return (block payload, rest) from bytes starting with ``#<n><len>``."""
    if not data.startswith(b"#") or len(data) < 2 or not data[1:2].isdigit() or data[1:2] == b"0":
        raise ScpiArgumentError("expected an IEEE 488.2 definite-length block", code=-161)
    digits = data[1] - 0x30
    try:
        length = int(data[2:2 + digits])
    except ValueError:
        raise ScpiArgumentError("malformed block header", code=-161) from None
    payload = data[2 + digits:2 + digits + length]
    if len(payload) != length:
        raise ScpiArgumentError(f"block announced {length} bytes, got {len(payload)}", code=-161)
    return payload, data[2 + digits + length:]


_SUFFIXES = {
    "": 1.0, "K": 1e3, "M": 1e-3, "MA": 1e6, "G": 1e9, "U": 1e-6, "N": 1e-9, "P": 1e-12,
}


def parse_number(arg: str, *, minimum: float | None = None, maximum: float | None = None,
                 default: float | None = None, units: tuple[str, ...] = ()) -> float:
    """Parse a SCPI numeric argument: plain numbers, MIN/MAX/DEF, and engineering unit suffixes.

    ``units`` lists accepted unit names (e.g. ``("V",)``, ``("M",)`` for metres, ``("S",)``,
    ``("DB",)``); ``"1550NM"`` with units ``("M",)`` gives 1.55e-6. Raises ``ScpiArgumentError``
    (-224) for anything else.
    """
    text = arg.strip().upper()
    if text in ("MIN", "MINIMUM") and minimum is not None:
        return minimum
    if text in ("MAX", "MAXIMUM") and maximum is not None:
        return maximum
    if text in ("DEF", "DEFAULT") and default is not None:
        return default
    match = re.fullmatch(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:E[+-]?\d+)?)\s*([A-Z]*)", text)
    if not match:
        raise ScpiArgumentError(f"not a number: {arg!r}", code=-120)
    value = float(match.group(1))
    suffix = match.group(2)
    if not suffix:
        return value
    for unit in sorted(units, key=len, reverse=True):
        if suffix.endswith(unit.upper()):
            prefix = suffix[: -len(unit)]
            if prefix in _SUFFIXES:
                return value * _SUFFIXES[prefix]
    raise ScpiArgumentError(f"invalid suffix in {arg!r}", code=-131)


def parse_bool(arg: str) -> bool:
    """SCPI boolean: ON/OFF/1/0."""
    text = arg.strip().upper()
    if text in ("ON", "1"):
        return True
    if text in ("OFF", "0"):
        return False
    raise ScpiArgumentError(f"not a boolean: {arg!r}", code=-224)


class ScpiEmulator(Emulator):
    """An IEEE 488.2 / SCPI instrument: header matching (long/short forms), ``;`` compound messages,
    an error queue (``SYST:ERR?``), ``*IDN?``, ``*CLS``, ``*RST``, ``*OPC?``.

    Subclasses set ``idn`` and decorate handler methods with ``@scpi(...)``; a handler returns the
    reply text for queries (or None), and raises ``ScpiArgumentError`` for bad arguments.
    """

    idn: ClassVar[str] = "qkdlab,Simulated instrument,SIM0001,1.0"
    _handlers: ClassVar[list[tuple[re.Pattern[str], str]]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers: list[tuple[re.Pattern[str], str]] = []
        for klass in reversed(cls.__mro__):
            for attr, fn in vars(klass).items():
                for pattern in getattr(fn, "_scpi_patterns", ()):
                    handlers.append((_compile(pattern), attr))
        cls._handlers = handlers

    def __init__(self, model: Any, name: str, **options: Any) -> None:
        super().__init__(model, name, **options)
        self.error_queue: collections.deque[tuple[int, str]] = collections.deque(maxlen=30)
        self.reset()

    def reset(self) -> None:
        """Power-on settings (``*RST``)."""

    def push_error(self, code: int, message: str) -> None:
        """Queue an error as the instrument would (also used for fault injection)."""
        self.error_queue.append((code, message))

    def refuse_unknown(self, message: bytes) -> None:
        self.push_error(-113, f"Undefined header; {_header(message.decode('latin-1'))}")

    def handle(self, message: bytes) -> bytes | None:
        replies = []
        for part in split_messages(message):
            header, _, args = part.partition(b" ")
            header_text = header.decode("ascii", errors="replace")
            # lstrip only: split_messages already trimmed the end, except inside binary blocks
            reply = self._dispatch(header_text, args.decode("latin-1").lstrip())
            if reply is not None:
                replies.append(reply)
        return ";".join(replies).encode("latin-1") if replies else None

    def _dispatch(self, header: str, args: str) -> str | None:
        for regex, attr in self._handlers:
            match = regex.match(header)
            if match:
                suffixes = {k: int(v) if v else 1 for k, v in match.groupdict().items()}
                try:
                    return getattr(self, attr)(args, **suffixes)
                except ScpiArgumentError as exc:
                    self.push_error(exc.code, {-120: "Numeric data error", -131: "Invalid suffix",
                                               -161: "Invalid block data", -222: "Data out of range",
                                               -221: "Settings conflict"}.get(exc.code, "Illegal parameter value")
                                    + f"; {exc}")
                    return None
        self.push_error(-113, f"Undefined header; {header}")
        return None

    # -- IEEE 488.2 common commands --------------------------------------------------------
    @scpi("*IDN?")
    def _idn(self, args: str) -> str:
        return self.idn

    @scpi("*CLS")
    def _cls(self, args: str) -> None:
        self.error_queue.clear()

    @scpi("*RST")
    def _rst(self, args: str) -> None:
        self.reset()

    @scpi("*OPC?")
    def _opc(self, args: str) -> str:
        return "1"

    @scpi("SYSTem:ERRor[:NEXT]?")
    def _syst_err(self, args: str) -> str:
        if self.error_queue:
            code, message = self.error_queue.popleft()
            return f'{code:+d},"{message}"'
        return '+0,"No error"'

    def check_range(self, name: str, value: float, lo: float, hi: float) -> float:
        """Raise -222 'Data out of range' as a real instrument does for values it cannot take."""
        if not lo <= value <= hi:
            raise ScpiArgumentError(f"{name} {value:g} outside [{lo:g}, {hi:g}]", code=-222)
        return value
