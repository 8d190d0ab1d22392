"""The exception hierarchy of qkdlab.

Every message names the thing, the value and what to do about it. The CLI turns any
``QkdlabError`` into one line on stderr and a non-zero exit code.
"""

from __future__ import annotations


class QkdlabError(Exception):
    """Root of every error qkdlab raises on purpose."""


class InstrumentError(QkdlabError):
    """Something went wrong talking to, or with, an instrument."""


class Timeout(InstrumentError):
    """The instrument did not answer within its timeout (after the retries the driver allows)."""


class InstrumentConnectionError(InstrumentError):
    """The connection to the instrument could not be opened or was lost."""


class ProtocolError(InstrumentError):
    """The instrument answered something that does not follow its command set (garbage, wrong type)."""


class SafetyLimitError(InstrumentError, ValueError):
    """A setting would exceed a bench safety limit; nothing was sent to the instrument."""


class SettingRangeError(InstrumentError, ValueError):
    """A setting lies outside what the instrument accepts; nothing was sent to the instrument."""


class OverrangeError(InstrumentError):
    """The instrument reported an over-range reading (SCPI 9.9e37) instead of a value."""


class InstrumentReportedError(InstrumentError):
    """The instrument's own error queue (or read-back check) reported a problem with a command."""

    def __init__(self, code: int | None, message: str, command: str | None, instrument: str = ""):
        self.code = code
        self.message = message
        self.command = command
        self.instrument = instrument
        where = f"{instrument}: " if instrument else ""
        cmd = f" after {command!r}" if command else ""
        code_text = f" {code}" if code is not None else ""
        super().__init__(f"{where}instrument reported error{code_text} {message!r}{cmd}")


class ConfigError(QkdlabError, ValueError):
    """A bench or simulation configuration is invalid; the message points at the bad key."""


class DataError(QkdlabError):
    """A data file is missing, unreadable, or of a format/version qkdlab does not understand."""


class CalibrationError(QkdlabError):
    """Calibration could not turn the given runs into trustworthy proof parameters."""


class SolverError(QkdlabError):
    """A numerical solver failed and no conservative fallback was possible."""
