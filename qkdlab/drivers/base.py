"""Instrument base classes and declarative, unit-aware properties.

The property factories follow PyMeasure (``control``/``measurement``/``setting``: get and set
command templates, validators, value maps) and QCoDeS (unit, label, a cached value with its
timestamp, settings snapshots), with real unit handling added:

- the API edge is SI: a setter accepts a pint quantity of the right dimension, a string such as
  ``"1.5 V"``, or a plain float taken to be in the property's SI unit; a getter returns a pint
  quantity in that unit (or a plain value for enums, booleans and strings);
- the instrument's native scaling (mV integers, tenths of a percent, ps, nm) is a ``scale`` factor
  applied inside the driver, never seen by the caller;
- instrument ranges (``limits``) and bench **safety limits** (``safety``, from the bench config)
  are checked before anything is written; a breach raises and sends nothing;
- after every setting the instrument's error report is checked by default (``SYST:ERR?`` for
  SCPI, read-back for instruments without an error queue) and raised as
  ``InstrumentReportedError(code, message, command)``.

Command templates use ``str.format`` fields: ``{ch}`` for a channel id and ``{value}`` for the
native value, e.g. ``"SOUR{ch}:VOLT {value:.6g}"`` or ``"MZM:HOLD:VOLTAGE: {value:d}"``.
"""

from __future__ import annotations

import enum
import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import pint

from ..errors import (
    ConfigError,
    InstrumentConnectionError,
    InstrumentReportedError,
    OverrangeError,
    ProtocolError,
    SafetyLimitError,
    SettingRangeError,
    Timeout,
)
from ..units import as_quantity, to_si
from .transport import SerialTransport, Transport, VisaTransport

__all__ = [
    "Control", "control", "measurement", "setting", "Instrument", "SCPIInstrument", "Channel",
    "Identity", "CachedValue", "OVERRANGE", "controls",
]

#: SCPI's "not a number / over range" reply (IEEE 488.2: 9.9E37).
OVERRANGE = 9.9e37

Limits = tuple[float, float] | Callable[[Any], tuple[float, float]] | None


@dataclass(frozen=True)
class CachedValue:
    """The last value set on or read from a property, with when and how (QCoDeS-style cache)."""

    value: Any
    timestamp: float
    source: str  # "set" or "get"


@dataclass(frozen=True)
class Identity:
    """What an instrument says it is (``*IDN?`` or the family's equivalent)."""

    manufacturer: str
    model: str
    serial: str
    firmware: str

    @classmethod
    def from_idn(cls, reply: str) -> Identity:
        parts = [p.strip() for p in reply.split(",")]
        if len(parts) < 2 or not parts[0]:
            raise ProtocolError(f"*IDN? reply {reply!r} is not 'manufacturer,model,serial,firmware'")
        parts += [""] * (4 - len(parts))
        return cls(*parts[:4])

    def __str__(self) -> str:
        return f"{self.manufacturer} {self.model} (s/n {self.serial or '?'}, fw {self.firmware or '?'})"


class Control:
    """A descriptor for one instrument property; build it with ``control``/``measurement``/``setting``."""

    def __init__(self, get_cmd: str | None, set_cmd: str | None, doc: str, *, unit: str = "",
                 label: str = "", scale: float = 1.0, cast: Callable[[str], Any] = float,
                 native_int: bool = False, limits: Limits = None,
                 values: Mapping[Any, Any] | type[enum.Enum] | None = None,
                 safety: str | None = None, check: bool = True, verify_tolerance: float | None = None,
                 preprocess: Callable[[str], str] | None = None, optional_query: bool = False) -> None:
        self.get_cmd = get_cmd
        self.set_cmd = set_cmd
        self.__doc__ = doc
        self.unit = unit
        self.label = label
        self.scale = scale
        self.cast = cast
        self.native_int = native_int
        self.limits = limits
        self.values = values
        self.safety = safety
        self.check = check
        self.verify_tolerance = verify_tolerance
        self.preprocess = preprocess
        #: The query is not confirmed by any source: a read-back or snapshot that needs it asks it
        #: with ``ask_optional`` (short timeout, remembered as unsupported when unanswered).
        self.optional_query = optional_query
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        if not self.label:
            self.label = name.replace("_", " ")

    # -- value conversion ----------------------------------------------------------------------
    def _map_to_native(self, value: Any) -> Any:
        values = self.values
        if isinstance(values, type) and issubclass(values, enum.Enum):
            try:
                member = value if isinstance(value, values) else (
                    values[value.upper()] if isinstance(value, str) else values(value))
            except (KeyError, ValueError):
                raise SettingRangeError(
                    f"{self.name}={value!r} is not one of {[m.name for m in values]}") from None
            return member.value
        assert values is not None
        if value not in values:
            raise SettingRangeError(f"{self.name}={value!r} is not one of {list(values)}")
        return values[value]

    def _map_from_native(self, native: Any) -> Any:
        values = self.values
        if isinstance(values, type) and issubclass(values, enum.Enum):
            try:
                return values(native)
            except ValueError:
                raise ProtocolError(f"{self.name}: reply {native!r} is not one of "
                                    f"{[m.value for m in values]}") from None
        assert values is not None
        for key, nat in values.items():
            if nat == native or (isinstance(nat, str) and isinstance(native, str) and nat.upper() == native.upper()):
                return key
        raise ProtocolError(f"{self.name}: reply {native!r} is not one of {list(values.values())}")

    def to_native(self, obj: Any, value: Any) -> tuple[Any, Any]:
        """Validate a user value; return (value as cached, native value to send). Sends nothing."""
        if self.values is not None:
            native = self._map_to_native(value)
            cached = self._map_from_native(native)
            return cached, native
        if self.cast is str:
            return str(value), str(value)
        try:
            si = to_si(value, self.unit)
        except (pint.DimensionalityError, pint.UndefinedUnitError, ValueError, TypeError) as exc:
            raise SettingRangeError(
                f"{obj.name}.{self.name}: {value!r} is not a value in {self.unit or 'dimensionless'} ({exc})") from None
        limits = self.limits(obj) if callable(self.limits) else self.limits
        if limits is not None:
            lo, hi = limits
            if not (lo <= si <= hi):
                raise SettingRangeError(
                    f"{obj.name}.{self.name} = {si:g} {self.unit} is outside the instrument range "
                    f"[{lo:g}, {hi:g}] {self.unit}; nothing was sent")
        if self.safety is not None:
            obj.check_safety(self.safety, si, self.unit, what=self.name)
        native = si * self.scale
        integer = self.native_int or self.cast is int
        if integer:
            native = int(round(native))
        return (native / self.scale if integer else si), native

    def from_reply(self, obj: Any, reply: str, command: str) -> Any:
        """Parse one reply into the API value (pint quantity in ``unit`` for numbers)."""
        text = self.preprocess(reply) if self.preprocess else reply.strip()
        if self.values is not None:
            try:
                native = self.cast(text) if self.cast is not str else text
            except (ValueError, TypeError):
                raise ProtocolError(f"{obj.name}.{self.name}: reply {reply!r} to {command!r} is not valid") from None
            return self._map_from_native(native)
        try:
            native = self.cast(text)
        except (ValueError, TypeError):
            raise ProtocolError(
                f"{obj.name}.{self.name}: reply {reply!r} to {command!r} is not a "
                f"{getattr(self.cast, '__name__', 'value')}; the instrument or the link is garbling replies") from None
        if isinstance(native, (int, float)) and not isinstance(native, bool):
            if abs(native) >= OVERRANGE:
                raise OverrangeError(
                    f"{obj.name}.{self.name}: instrument reports over-range ({reply.strip()}) for {command!r}; "
                    "reduce the input or select a higher range")
            value = native / self.scale if self.scale != 1.0 else native
            return as_quantity(value, self.unit) if self.unit else value
        return native

    # -- descriptor protocol -----------------------------------------------------------------
    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        if self.get_cmd is None:
            raise AttributeError(f"{self.name} is write-only; the cached value is in .cache")
        command = obj.format_command(self.get_cmd)
        value = self.from_reply(obj, obj.ask(command), command)
        obj.cache_value(self.name, value, "get")
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        if self.set_cmd is None:
            raise AttributeError(f"{self.name} is read-only")
        cached, native = self.to_native(obj, value)
        command = obj.format_command(self.set_cmd, value=native)
        with obj.transaction():
            self.send(obj, command)
            if self.check and obj.check_errors_on_set:
                obj.check_set(self, command, cached)
        obj.cache_value(self.name, as_quantity(cached, self.unit) if self.unit and self.values is None
                        and self.cast is not str else cached, "set")

    def send(self, obj: Any, command: str) -> None:
        """Write a set command (override for instruments that acknowledge settings)."""
        obj.write(command)


def control(get_cmd: str, set_cmd: str, doc: str, **kwargs: Any) -> Control:
    """A property that can be read and set (``doc`` starts with 'Control')."""
    return Control(get_cmd, set_cmd, doc, **kwargs)


def measurement(get_cmd: str, doc: str, **kwargs: Any) -> Control:
    """A read-only property (``doc`` starts with 'Measure' or 'Get')."""
    return Control(get_cmd, None, doc, **kwargs)


def setting(set_cmd: str, doc: str, **kwargs: Any) -> Control:
    """A write-only property (``doc`` starts with 'Set')."""
    return Control(None, set_cmd, doc, **kwargs)


def controls(cls: type) -> list[Control]:
    """The Control descriptors of a class in declaration order (base classes first)."""
    seen: dict[str, Control] = {}
    for klass in reversed(cls.__mro__):
        for name, attr in vars(klass).items():
            if isinstance(attr, Control):
                seen.pop(name, None)
                seen[name] = attr
    return list(seen.values())


class _PropertyOwner:
    """What instruments and channels share: command formatting, caches, snapshots, limits.

    Once constructed, an instrument refuses to grow new public attributes: on a bench, a typo such
    as ``laser.output_enabld = True`` must fail loudly instead of silently setting nothing.
    """

    name: str
    _cache: dict[str, CachedValue]
    _setpoints: dict[str, CachedValue]

    def check_setting(self, name: str, value: Any) -> None:
        """Validate a value for setting ``name`` (instrument range, bench safety limit) without sending it.

        Procedures call this for every setting they will make before they start, so a value the
        instrument or the bench forbids fails at once, not hundreds of points into a run.
        """
        control = getattr(type(self), name, None)
        if not isinstance(control, Control):
            raise AttributeError(f"{type(self).__name__} has no setting {name!r}")
        control.to_native(self, value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        @functools.wraps(init)
        def guarded_init(self: Any, *args: Any, **kw: Any) -> None:
            depth = self.__dict__.get("_init_depth", 0)
            object.__setattr__(self, "_init_depth", depth + 1)
            try:
                init(self, *args, **kw)
            finally:
                object.__setattr__(self, "_init_depth", depth)
            if depth == 0:
                object.__setattr__(self, "_frozen", True)

        cls.__init__ = guarded_init  # type: ignore[method-assign]

    def __setattr__(self, name: str, value: Any) -> None:
        if (self.__dict__.get("_frozen") and not name.startswith("_") and name not in self.__dict__
                and not hasattr(type(self), name)):
            known = sorted(c.name for c in controls(type(self)))
            raise AttributeError(f"{type(self).__name__} has no property {name!r}; its properties are {known}")
        object.__setattr__(self, name, value)

    def format_command(self, template: str, **fields: Any) -> str:
        return template.format(**fields)

    def cache_value(self, name: str, value: Any, source: str) -> None:
        entry = CachedValue(value, time.time(), source)
        self._cache[name] = entry
        if source == "set":
            self._setpoints[name] = entry

    @property
    def cache(self) -> Mapping[str, CachedValue]:
        """The last known value of every property that was set or read, with its timestamp."""
        return dict(self._cache)

    def snapshot(self, update: bool = False) -> dict[str, Any]:
        """Settings snapshot: every property's value, unit, label and time (``time_unix_s``; JSON-friendly).

        With ``update`` the readable properties are queried first (measurements are skipped:
        a snapshot records settings, not readings).
        """
        if update:
            for ctl in controls(type(self)):
                if ctl.get_cmd is not None and ctl.set_cmd is not None:
                    self.read_optional(ctl) if ctl.optional_query else getattr(self, ctl.name)
        out: dict[str, Any] = {}
        for ctl in controls(type(self)):
            cached = self._cache.get(ctl.name)
            if cached is None or ctl.set_cmd is None:
                continue
            value = cached.value
            if isinstance(value, pint.Quantity):
                value = float(value.magnitude)
            elif isinstance(value, enum.Enum):
                value = value.name
            out[ctl.name] = {"value": value, "unit": ctl.unit, "label": ctl.label,
                             "time_unix_s": cached.timestamp, "source": cached.source}
        for channel in self.channels:
            out[f"channel {channel.id}"] = channel.snapshot(update=update)
        unsupported = getattr(self, "unsupported_queries", None)
        if unsupported:
            out["unsupported queries"] = sorted(unsupported)
        return out

    def read_optional(self, ctl: Control) -> Any:
        """Read a property whose query may be unsupported: its value, or None (and nothing cached)."""
        command = self.format_command(ctl.get_cmd)
        reply = self.ask_optional(command)
        if reply is None:
            return None
        value = ctl.from_reply(self, reply, command)
        self.cache_value(ctl.name, value, "get")
        return value

    @property
    def channels(self) -> list[Channel]:
        """The instrument's channel objects (drivers with channels override this)."""
        return []

    def reapply_setpoints(self) -> list[str]:
        """Set again every property the user set, with the last value set (after a reconnect).

        Setpoints are kept apart from the read cache, so reading a property back does not make a
        reconnect forget that it was set.
        """
        restored = []
        for ctl in controls(type(self)):
            cached = self._setpoints.get(ctl.name)
            if cached is not None and ctl.set_cmd is not None:
                setattr(self, ctl.name, cached.value)
                restored.append(f"{self.name}.{ctl.name}")
        for channel in self.channels:
            restored += channel.reapply_setpoints()
        return restored


class Instrument(_PropertyOwner):
    """Base of every driver.

    ``resource`` is a resource string (VISA address or serial port/URL) or an already-open
    ``Transport``; the class attribute ``interface`` ("visa" or "serial") says which transport a
    string opens, with ``default_settings`` for its terminators, baud rate and timeout.

    ``safety_limits`` maps limit names (each driver lists its ``safety_limit_units``) to values;
    they come from the bench config. ``retries`` bounds the timeout handling: a timed-out query is
    retried once, then the transport is reconnected (setpoints re-applied) and tried again, then a
    ``Timeout`` is raised.
    """

    interface: ClassVar[str] = "visa"
    #: Seconds an optional query may stay unanswered before it is taken as unsupported.
    optional_query_timeout: ClassVar[float] = 0.5
    #: Queries a driver sends outside its properties, which ``qkdlab bench probe`` also tries
    #: (templates with the driver's ``format_command`` fields).
    probe_extra_queries: ClassVar[tuple[str, ...]] = ()
    #: Queries outside the properties that the driver only asks with ``ask_optional`` (it copes
    #: when they go unanswered); the probe tries them and reports them as optional.
    optional_queries: ClassVar[tuple[str, ...]] = ()
    #: Channel classes whose Controls also declare safety limits of this driver.
    channel_classes: ClassVar[tuple[type, ...]] = ()
    default_settings: ClassVar[dict[str, Any]] = {}
    #: Safety limits a driver understands beyond those named by its Controls: name -> unit.
    extra_safety_limits: ClassVar[dict[str, str]] = {}
    #: For limits in ``extra_safety_limits``: the interval (in the limit's unit) a bench limit may
    #: take, i.e. the instrument's own range; limits of declared controls take their control's range.
    extra_safety_limit_ranges: ClassVar[dict[str, tuple[float, float]]] = {}

    def __init__(self, resource: str | Transport, name: str | None = None, *,
                 safety_limits: Mapping[str, Any] | None = None, check_errors: bool = True,
                 reconnect_retries: int = 3, unsupported_queries: Iterable[str] = (), **settings: Any) -> None:
        self.name = name or type(self).__name__.lower()
        #: Queries this instrument does not answer: from a bench probe record, or found by
        #: ``ask_optional``; optional read-backs skip them, snapshots list them.
        self.unsupported_queries: set[str] = set(unsupported_queries)
        self._cache = {}
        self._setpoints = {}
        self.check_errors_on_set = check_errors
        self.reconnect_retries = reconnect_retries
        self.log = logging.getLogger(f"qkdlab.instrument.{self.name}")
        self.safety_limits = self._parse_safety_limits(safety_limits or {})
        self._in_recovery = False
        if isinstance(resource, Transport):
            self.transport = resource
        else:
            self.transport = self._make_transport(resource, settings)
        self.transport.open()

    def _make_transport(self, resource: str, settings: Mapping[str, Any]) -> Transport:
        merged = {**self.default_settings, **settings}
        if self.interface == "serial":
            return SerialTransport(resource, name=self.name, **merged)
        return VisaTransport(resource, name=self.name, **merged)

    # -- safety limits -------------------------------------------------------------------------
    @classmethod
    def safety_limit_units(cls) -> dict[str, str]:
        """Every safety-limit name this driver checks, with the unit it is compared in."""
        names = {c.safety: c.unit for c in controls(cls) if c.safety}
        for klass in getattr(cls, "channel_classes", ()):
            names.update({c.safety: c.unit for c in controls(klass) if c.safety})
        names.update(cls.extra_safety_limits)
        return names

    @classmethod
    def safety_limit_ranges(cls) -> dict[str, tuple[float, float] | None]:
        """Per safety limit, the interval a bench limit may take (the instrument's own range), if known.

        A limit outside it is a typo or a wrong unit (a 400 V drive limit on a 10 V generator),
        never a safe setting: the config refuses it. ``None``: the range depends on the model.
        """
        ranges: dict[str, tuple[float, float] | None] = {}
        for klass in (cls, *getattr(cls, "channel_classes", ())):
            for control in controls(klass):
                if control.safety:
                    limits = control.limits
                    ranges[control.safety] = ((0.0, max(abs(limits[0]), abs(limits[1])))
                                              if isinstance(limits, tuple) else None)
        ranges.update(cls.extra_safety_limit_ranges)
        return ranges

    def _parse_safety_limits(self, limits: Mapping[str, Any]) -> dict[str, float]:
        known = self.safety_limit_units()
        parsed: dict[str, float] = {}
        for key, value in limits.items():
            if key not in known:
                raise ConfigError(f"{self.name}: unknown safety limit {key!r} for {type(self).__name__}; "
                                  f"known limits: {sorted(known) or 'none'}")
            try:
                parsed[key] = to_si(value, known[key])
            except (pint.DimensionalityError, pint.UndefinedUnitError, ValueError) as exc:
                raise ConfigError(f"{self.name}: safety limit {key}={value!r} is not a value in "
                                  f"{known[key] or 'dimensionless'} ({exc})") from None
        return parsed

    def check_safety(self, key: str, value: float, unit: str, what: str = "") -> None:
        """Raise ``SafetyLimitError`` if ``|value|`` exceeds the bench limit ``key`` (if one is set)."""
        limit = self.safety_limits.get(key)
        if limit is not None and abs(value) > limit:
            raise SafetyLimitError(
                f"{self.name}: {what or key} = {value:g} {unit} exceeds the bench safety limit "
                f"{key} = {limit:g} {unit} (set in the bench config); nothing was sent")

    # -- I/O with recovery ---------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Instrument]:
        """Hold the transport lock across several exchanges (e.g. a set and its error check)."""
        with self.transport.lock:
            yield self

    def write(self, command: str) -> None:
        self._with_recovery(lambda: self.transport.write(command), command)

    def ask(self, command: str) -> str:
        return self._with_recovery(lambda: self.transport.query(command), command)

    def write_block(self, header: str, block: bytes) -> None:
        self._with_recovery(lambda: self.transport.write_block(header, block), header)

    def ask_optional(self, command: str) -> str | None:
        """Ask a query that the instrument may not know: its reply, or None if it is unsupported.

        Known-unsupported queries (``unsupported_queries``) are not sent. Otherwise the query gets
        ``optional_query_timeout`` seconds and no retry or reconnect (silence here means "not
        understood", not "link lost"); an unanswered query is remembered, so it costs one short
        timeout per session, and ``forget_unsupported`` clears what the instrument left behind.
        """
        if command in self.unsupported_queries:
            return None
        with self.transaction():
            previous = self.transport.timeout
            self.transport.timeout = min(previous, self.optional_query_timeout)
            try:
                return self.transport.query(command)
            except Timeout:
                self.transport.clear()
                self.unsupported_queries.add(command)
                self.log.warning("%s: no answer to optional query %r; skipping it from now on", self.name, command)
                self.forget_unsupported(command)
                return None
            finally:
                self.transport.timeout = previous

    def forget_unsupported(self, command: str) -> None:
        """Clean up after an unanswered query (SCPI: drop the 'undefined header' it queued)."""

    def _with_recovery(self, action: Callable[[], Any], command: str) -> Any:
        """Run one exchange; on timeout retry once, then reconnect and try again, then raise.

        A lost connection goes straight to reconnecting. While recovering (re-applying setpoints)
        no nested recovery is attempted, so a dead instrument fails fast instead of recursing.
        """
        if self._in_recovery:
            return action()
        try:
            return action()
        except Timeout:
            self.log.warning("%s: timeout on %r; retrying once", self.name, command)
            self.transport.clear()
        except InstrumentConnectionError as exc:
            self.log.warning("%s: connection lost on %r (%s); reconnecting", self.name, command, exc)
            self.reconnect()
            return action()
        try:
            return action()
        except (Timeout, InstrumentConnectionError):
            self.log.warning("%s: second failure on %r; reconnecting", self.name, command)
        try:
            self.reconnect()
            return action()
        except Timeout as exc:
            raise Timeout(f"{self.name}: no answer to {command!r} after a retry and a reconnect; "
                          "check that the instrument is powered, connected and at this address") from exc

    def reconnect(self) -> list[str]:
        """Reopen the link with the same settings, clear its state and re-apply cached setpoints.

        Returns the names of the properties that were restored.
        """
        self._in_recovery = True
        try:
            self.transport.reconnect(retries=self.reconnect_retries)
            self.after_reconnect()
            restored = self.reapply_setpoints()
        finally:
            self._in_recovery = False
        self.log.info("%s: reconnected; restored %s", self.name, restored or "nothing")
        return restored

    def after_reconnect(self) -> None:
        """Bring the instrument to a known state after a reconnect (SCPI: ``*CLS``)."""

    # -- error checking ------------------------------------------------------------------------
    def check_set(self, ctl: Control, command: str, expected: Any) -> None:
        """Check a setting took effect: by default the error queue; drivers may read back instead."""
        self.check_errors(command)

    def check_errors(self, command: str | None = None) -> None:
        """Raise ``InstrumentReportedError`` for any error the instrument reports (default: none)."""

    def verify_readback(self, ctl: Control, command: str, expected: Any) -> None:
        """Error check for instruments without an error queue: read the setting back and compare.

        A query no source confirms (``optional_query``) is asked with ``ask_optional``: where the
        instrument does not answer it, the setting stands unverified rather than failing.
        """
        if ctl.get_cmd is None:
            return
        get_command = self.format_command(ctl.get_cmd)
        reply = self.ask_optional(get_command) if ctl.optional_query else self.ask(get_command)
        if reply is None:
            return
        actual = ctl.from_reply(self, reply, get_command)
        if isinstance(actual, pint.Quantity):
            actual_si = float(actual.to(ctl.unit or "dimensionless").magnitude) if ctl.unit else float(actual.magnitude)
            tol = ctl.verify_tolerance if ctl.verify_tolerance is not None else 0.5 / ctl.scale
            ok = abs(actual_si - float(expected)) <= tol + 1e-12 * abs(float(expected))
        elif isinstance(actual, float):
            tol = ctl.verify_tolerance if ctl.verify_tolerance is not None else 0.5 / ctl.scale
            ok = abs(actual - float(expected)) <= tol
        else:
            ok = actual == expected
        if not ok:
            def show(value: Any) -> Any:
                if isinstance(value, pint.Quantity):
                    return f"{value:~P}"
                return value.name if isinstance(value, enum.Enum) else value

            raise InstrumentReportedError(None, f"read back {show(actual)} after setting {ctl.name} to {show(expected)}",
                                          command, self.name)

    # -- identity and life cycle --------------------------------------------------------------
    def identify(self) -> Identity:
        """Ask the instrument what it is."""
        raise NotImplementedError(f"{type(self).__name__} does not define identify()")

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Instrument:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} on {self.transport.name!r}>"


class SCPIInstrument(Instrument):
    """An IEEE 488.2 / SCPI instrument: ``*IDN?``, ``*CLS``, ``*OPC?`` and the ``SYST:ERR?`` queue."""

    #: Longest error queue drained in one check (an instrument that never answers 0 is broken).
    max_error_queue = 32
    probe_extra_queries: ClassVar[tuple[str, ...]] = ("*IDN?",)
    _error_reply = re.compile(r"^\s*([+-]?\d+)\s*,\s*\"?(.*?)\"?\s*$")

    def identify(self) -> Identity:
        return Identity.from_idn(self.ask("*IDN?"))

    def after_reconnect(self) -> None:
        self.write("*CLS")

    def clear_status(self) -> None:
        """Clear the status registers and error queue (``*CLS``)."""
        self.write("*CLS")

    def reset(self) -> None:
        """Reset the instrument to its power-on settings (``*RST``) and forget cached setpoints."""
        self.write("*RST")
        for owner in (self, *self.channels):
            owner._cache.clear()
            owner._setpoints.clear()

    def wait_complete(self) -> None:
        """Block until pending operations finish (``*OPC?`` answers 1)."""
        reply = self.ask("*OPC?").strip()
        if reply not in ("1", "+1"):
            raise ProtocolError(f"{self.name}: *OPC? answered {reply!r}, expected 1")

    def forget_unsupported(self, command: str) -> None:
        """Drain the error queue of the -113 'undefined header' an unknown query leaves behind."""
        for _ in range(self.max_error_queue):
            code, _message = self.next_error()
            if code == 0:
                return

    def next_error(self) -> tuple[int, str]:
        """Pop one entry of the error queue as (code, message)."""
        reply = self.ask("SYST:ERR?")
        match = self._error_reply.match(reply)
        if not match:
            raise ProtocolError(f"{self.name}: SYST:ERR? answered {reply!r}, expected '<code>,\"<message>\"'")
        return int(match.group(1)), match.group(2)

    def check_errors(self, command: str | None = None) -> None:
        errors: list[tuple[int, str]] = []
        with self.transaction():
            for _ in range(self.max_error_queue):
                code, message = self.next_error()
                if code == 0:
                    break
                errors.append((code, message))
            else:
                raise ProtocolError(f"{self.name}: error queue did not empty after {self.max_error_queue} reads")
        if errors:
            code, message = errors[0]
            more = f" (+{len(errors) - 1} more: {errors[1:]})" if len(errors) > 1 else ""
            raise InstrumentReportedError(code, message + more, command, self.name)


class Channel(_PropertyOwner):
    """One channel (or slot) of an instrument; ``{ch}`` in its commands becomes ``id``."""

    def __init__(self, parent: Instrument, id: Any) -> None:
        self.parent = parent
        self.id = id
        self.name = f"{parent.name}.ch{id}"
        self._cache = {}
        self._setpoints = {}

    def format_command(self, template: str, **fields: Any) -> str:
        return template.format(ch=self.id, **fields)

    # Everything else goes to the parent, under its lock and error handling.
    def ask(self, command: str) -> str:
        return self.parent.ask(command)

    def write(self, command: str) -> None:
        self.parent.write(command)

    def write_block(self, header: str, block: bytes) -> None:
        self.parent.write_block(header, block)

    def ask_optional(self, command: str) -> str | None:
        return self.parent.ask_optional(command)

    def transaction(self) -> Any:
        return self.parent.transaction()

    @property
    def check_errors_on_set(self) -> bool:
        return self.parent.check_errors_on_set

    def check_set(self, ctl: Control, command: str, expected: Any) -> None:
        self.parent.check_set(ctl, command, expected)

    def check_errors(self, command: str | None = None) -> None:
        self.parent.check_errors(command)

    def check_safety(self, key: str, value: float, unit: str, what: str = "") -> None:
        self.parent.check_safety(key, value, unit, what=f"ch{self.id} {what}".strip())
