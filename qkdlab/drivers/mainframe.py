"""What every Keysight (Agilent) 816x module driver shares: its place in an 8163B/8164B mainframe.

A laser, attenuator or power-meter module is addressed by its slot (``:SOUR<slot>``,
``:INP<slot>:CHAN<ch>``...); several module drivers share the mainframe's one VISA resource;
``*IDN?`` names the mainframe, so a module identifies itself with ``:SLOT<slot>:IDN?``
[unverified: ``AgilentMainframe.list_modules`` in a "Python wrapper for Agilent Lightwave
Measurement System Modules", search-index id 15498324781; a commented call in ``voa_agilent.py``].
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import Identity, SCPIInstrument

__all__ = ["Keysight816xModule", "on_off"]


def on_off(reply: str) -> str:
    """SCPI boolean replies ``0``/``1`` (or ``+0``/``+1``, ``ON``/``OFF``) as ``ON``/``OFF``."""
    text = reply.strip().upper()
    return {"1": "ON", "+1": "ON", "0": "OFF", "+0": "OFF"}.get(text, text)


class Keysight816xModule(SCPIInstrument):
    """A module in slot ``slot`` (0 for an 8164B's back laser slot, 1..4 in front), channel ``channel``.

    Command templates may use ``{slot}`` and ``{ch}`` (the module channel).
    """

    default_settings = {"timeout": 5.0, "write_termination": "\n", "read_termination": "\n"}

    def __init__(self, resource: Any, name: str | None = None, *, slot: int = 1, channel: int = 1,
                 **kwargs: Any) -> None:
        if int(slot) < 0 or int(channel) < 1:
            raise ConfigError(f"{name or type(self).__name__.lower()}: slot {slot!r} / channel {channel!r} are "
                              "not a mainframe slot (0..4) and module channel (1, 2, ...)")
        self.slot = int(slot)
        self.channel = int(channel)
        super().__init__(resource, name, **kwargs)

    def format_command(self, template: str, **fields: Any) -> str:
        return template.format(slot=self.slot, ch=self.channel, **fields)

    def identify(self) -> Identity:
        """Ask the module itself what it is (``:SLOT<slot>:IDN?``); ``*IDN?`` would name the mainframe."""
        return Identity.from_idn(self.ask(f":SLOT{self.slot}:IDN?"))

    def mainframe_identity(self) -> Identity:
        """Ask the mainframe what it is (``*IDN?``)."""
        return Identity.from_idn(self.ask("*IDN?"))
