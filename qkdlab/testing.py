"""Protocol testing: check a driver's exact command/reply traffic without hardware.

Modelled on PyMeasure's ``ProtocolAdapter``/``expected_protocol``: a test lists the
``(command, reply)`` pairs the driver must exchange, terminators excluded (``None`` for "no reply"
or "no write"); the transport fails the test on any deviation and on pairs left unused.
Binary blocks are compared byte for byte, so native scaling and IEEE 488.2 headers are checked too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from .drivers.transport import Transport
from .errors import Timeout

__all__ = ["ProtocolTransport", "expected_protocol"]

Pair = tuple[str | bytes | None, str | bytes | None]
T = TypeVar("T")


def _as_bytes(item: str | bytes) -> bytes:
    return item if isinstance(item, bytes) else item.encode("latin-1")


class ProtocolTransport(Transport):
    """A transport that plays a scripted conversation and records what was sent.

    ``sent`` is the full transcript of written messages (terminators stripped), so a test can prove
    that nothing reached the instrument (e.g. after a safety-limit refusal).
    """

    def __init__(self, pairs: Sequence[Pair] = (), name: str = "protocol", *,
                 write_termination: str = "\n", read_termination: str = "\n") -> None:
        super().__init__(name, timeout=0.1, write_termination=write_termination,
                         read_termination=read_termination)
        self.pairs = list(pairs)
        self.index = 0
        self.sent: list[bytes] = []
        self._pending_reply: bytes | None = None

    def _open(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def _write_bytes(self, data: bytes) -> None:
        term = self.write_termination.encode()
        message = data[: -len(term)] if term and data.endswith(term) else data
        self.sent.append(message)
        if self._pending_reply is not None:
            raise AssertionError(f"wrote {message!r} while reply {self._pending_reply!r} was still unread")
        if self.index >= len(self.pairs):
            raise AssertionError(f"unexpected write {message!r}: all {len(self.pairs)} expected pairs were used")
        expected, reply = self.pairs[self.index]
        if expected is None:
            raise AssertionError(f"unexpected write {message!r}: expected a read of {reply!r}")
        if _as_bytes(expected) != message:
            raise AssertionError(f"pair {self.index}: expected write {expected!r}, got {message!r}")
        self.index += 1
        if reply is not None:
            self._pending_reply = _as_bytes(reply)

    def _read_message(self) -> bytes:
        if self._pending_reply is None:
            if self.index < len(self.pairs) and self.pairs[self.index][0] is None:
                reply = self.pairs[self.index][1]
                self.index += 1
                return _as_bytes(reply or b"")
            raise Timeout(f"{self.name}: unexpected read, no reply scripted at pair {self.index}")
        reply, self._pending_reply = self._pending_reply, None
        return reply

    def assert_done(self) -> None:
        """Fail if a scripted pair was not used or a reply was not read."""
        if self._pending_reply is not None:
            raise AssertionError(f"reply {self._pending_reply!r} was never read")
        if self.index != len(self.pairs):
            raise AssertionError(f"only {self.index} of {len(self.pairs)} expected pairs were used; "
                                 f"next expected: {self.pairs[self.index]!r}")


@contextmanager
def expected_protocol(instrument_cls: type[T], pairs: Sequence[Pair], **kwargs: Any) -> Iterator[T]:
    """Build ``instrument_cls`` on a ``ProtocolTransport`` and check the traffic on exit.

    The transport uses the driver's own terminators, so serial and VISA drivers are tested alike.
    """
    defaults = getattr(instrument_cls, "default_settings", {})
    transport = ProtocolTransport(
        pairs, write_termination=defaults.get("write_termination", "\n"),
        read_termination=defaults.get("read_termination", "\n"))
    instrument = instrument_cls(transport, **kwargs)
    yield instrument
    transport.assert_done()
