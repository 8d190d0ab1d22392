"""A pyvisa backend, ``@qkdsim``, that routes VISA resources to the simulated bench.

Use it as ``pyvisa.ResourceManager("@qkdsim")`` (the active simulated bench) or
``pyvisa.ResourceManager("<bench key>@qkdsim")`` (a named one). pyvisa finds it through the
top-level package ``pyvisa_qkdsim`` that re-exports ``WRAPPER_CLASS``.

Why our own backend rather than pyvisa-sim: pyvisa-sim devices are static tables that cannot
depend on one another (pyvisa-sim#64), cannot take binary block writes (#60), and feed messages a
byte at a time. Here each VISA ``write`` is one message with END asserted, as on USB-TMC and
GPIB, delivered whole to an emulator that shares the bench's physics model; the real pyvisa
``Resource`` code above it (terminations, ``read_raw`` chunking, ``write_binary_values``,
timeouts in ms) is exercised unchanged.
"""

from __future__ import annotations

import random
from typing import Any

from pyvisa import attributes, constants, errors, highlevel, rname
from pyvisa.typing import VISARMSession, VISASession

from .instruments.base import Emulator, LinkDown
from .registry import lookup

__all__ = ["QkdsimVisaLibrary", "WRAPPER_CLASS"]

StatusCode = constants.StatusCode


class _Session:
    """One open VISA session on an emulator: its attributes (timeout, termchar, ...) and unread bytes."""

    def __init__(self, emulator: Emulator, parsed: rname.ResourceName, rm_session: int) -> None:
        self.emulator = emulator
        self.parsed = parsed
        self.session_type = (parsed.interface_type_const, parsed.resource_class)
        self.pending = b""
        self.attrs: dict[int, Any] = {
            constants.ResourceAttribute.resource_manager_session: rm_session,
            constants.ResourceAttribute.resource_name: str(parsed),
            constants.ResourceAttribute.resource_class: parsed.resource_class,
            constants.ResourceAttribute.interface_type: parsed.interface_type_const,
        }

    def get_attribute(self, attribute: int) -> tuple[Any, StatusCode]:
        attr = attributes.AttributesByID.get(attribute)
        if attr is None or not attr.in_resource(self.session_type):
            return 0, StatusCode.error_nonsupported_attribute
        return self.attrs.setdefault(attribute, attr.default), StatusCode.success

    def set_attribute(self, attribute: int, value: Any) -> StatusCode:
        attr = attributes.AttributesByID.get(attribute)
        if attr is None or not attr.in_resource(self.session_type):
            return StatusCode.error_nonsupported_attribute
        if not attr.write:
            return StatusCode.error_attribute_read_only
        self.attrs[attribute] = value
        return StatusCode.success

    @property
    def timeout_s(self) -> float:
        value, _ = self.get_attribute(constants.ResourceAttribute.timeout_value)
        if value in (None, constants.VI_TMO_INFINITE):
            return 3600.0
        return float(value) / 1000.0


class QkdsimVisaLibrary(highlevel.VisaLibraryBase):
    """The ``@qkdsim`` VISA library: sessions are simulated instruments of a ``SimulatedBench``."""

    sessions: dict[int, Any]

    @staticmethod
    def get_library_paths() -> tuple[highlevel.LibraryPath, ...]:
        return (highlevel.LibraryPath("active"),)

    @staticmethod
    def get_debug_info() -> dict[str, str]:
        from .. import __version__

        return {"Version": __version__, "Backend": "qkdlab simulated bench"}

    def _init(self) -> None:
        self.sessions = {}

    def _bench_key(self) -> str | None:
        key = str(self.library_path.path)
        return None if key in ("", "active", "unset") else key

    def _register(self, obj: Any) -> int:
        session = random.randint(1_000_000, 9_999_999)
        while session in self.sessions:
            session = random.randint(1_000_000, 9_999_999)
        self.sessions[session] = obj
        return session

    def open_default_resource_manager(self) -> tuple[VISARMSession, StatusCode]:
        return VISARMSession(self._register(self)), StatusCode.success

    def open(self, session: VISARMSession, resource_name: str,
             access_mode: constants.AccessModes = constants.AccessModes.no_lock,
             open_timeout: int = constants.VI_TMO_IMMEDIATE) -> tuple[VISASession, StatusCode]:
        try:
            parsed = rname.parse_resource_name(resource_name)
        except rname.InvalidResourceName:
            return self._raise(session, StatusCode.error_invalid_resource_name)
        bench = lookup(self._bench_key())
        emulator = bench.emulator_for_resource(str(parsed)) if bench else None
        if emulator is None:
            return self._raise(session, StatusCode.error_resource_not_found)
        try:
            emulator.connect()
        except LinkDown:
            return self._raise(session, StatusCode.error_resource_not_found)
        return VISASession(self._register(_Session(emulator, parsed, session))), StatusCode.success

    def close(self, session: Any) -> StatusCode:
        if self.sessions.pop(session, None) is None:
            return StatusCode.error_invalid_object
        return StatusCode.success

    def list_resources(self, session: VISARMSession, query: str = "?*::INSTR") -> tuple[str, ...]:
        bench = lookup(self._bench_key())
        names = bench.visa_resources() if bench else []
        found = rname.filter(names, query)
        if not found:
            raise errors.VisaIOError(StatusCode.error_resource_not_found.value)
        return tuple(found)

    def _session(self, session: int) -> _Session | None:
        sess = self.sessions.get(session)
        return sess if isinstance(sess, _Session) else None

    def write(self, session: VISASession, data: bytes) -> tuple[int, StatusCode]:
        sess = self._session(session)
        if sess is None:
            return 0, StatusCode.error_invalid_object
        message = bytes(data)
        term = sess.emulator.write_termination
        if term and message.endswith(term):
            message = message[: -len(term)]  # END marks the message; the terminator is not part of it
        try:
            sess.emulator.receive(message)
        except LinkDown:
            return self._raise(session, StatusCode.error_connection_lost)
        return len(data), StatusCode.success

    def read(self, session: VISASession, count: int) -> tuple[bytes, StatusCode]:
        sess = self._session(session)
        if sess is None:
            return b"", StatusCode.error_invalid_object
        if not sess.pending:
            try:
                reply = sess.emulator.take_reply(sess.timeout_s)
            except LinkDown:
                return self._raise(session, StatusCode.error_connection_lost)
            if reply is None:
                return self._raise(session, StatusCode.error_timeout)
            sess.pending = reply
        chunk, sess.pending = sess.pending[:count], sess.pending[count:]
        if sess.pending:
            return chunk, StatusCode.success_max_count_read
        return chunk, StatusCode.success

    def _raise(self, session: int, status: StatusCode) -> Any:
        # pyvisa expects library calls to raise VisaIOError for negative status codes.
        self.handle_return_value(session, status)
        raise errors.VisaIOError(status.value)

    def get_attribute(self, session: VISASession, attribute: int) -> tuple[Any, StatusCode]:
        sess = self._session(session)
        if sess is None:
            return 0, StatusCode.error_invalid_object
        return sess.get_attribute(attribute)

    def set_attribute(self, session: VISASession, attribute: int, attribute_state: Any) -> StatusCode:
        sess = self._session(session)
        if sess is None:
            return StatusCode.error_invalid_object
        return sess.set_attribute(attribute, attribute_state)

    def clear(self, session: VISASession) -> StatusCode:
        sess = self._session(session)
        if sess is None:
            return StatusCode.error_invalid_object
        sess.pending = b""
        sess.emulator.clear_output()
        return StatusCode.success

    def flush(self, session: VISASession, mask: Any) -> StatusCode:
        return StatusCode.success if self._session(session) else StatusCode.error_invalid_object

    def disable_event(self, session: Any, event_type: Any, mechanism: Any) -> StatusCode:
        return StatusCode.success

    def discard_events(self, session: Any, event_type: Any, mechanism: Any) -> StatusCode:
        return StatusCode.success

    def assert_trigger(self, session: VISASession, protocol: Any) -> StatusCode:
        sess = self._session(session)
        if sess is None:
            return StatusCode.error_invalid_object
        sess.emulator.receive(b"*TRG")
        return StatusCode.success


WRAPPER_CLASS = QkdsimVisaLibrary
