"""What every emulated Keysight 816x module shares: a slot in an 8163B/8164B and its own identity.

Emulator policies [unverified, like the drivers' command sets]: the module sits in slot ``slot``
(option, default 1) and answers ``:SLOT<slot>:IDN?``; commands to another slot queue -241
"Hardware missing" (queries then get no reply, as a SCPI instrument does after a query error);
``*IDN?`` names the mainframe (option ``mainframe``, default 8164B).
"""

from __future__ import annotations

from typing import Any

from .base import ScpiEmulator, scpi

__all__ = ["Keysight816xModuleEmulator", "fmt"]


def fmt(value: float) -> str:
    """Numbers as the 816x mainframes print them (assumed): ``+1.00000000E-03``."""
    return f"{value:+.8E}"


class Keysight816xModuleEmulator(ScpiEmulator):
    """A module of model ``module`` (option, else ``default_module``) in slot ``slot`` of a mainframe."""

    default_module = "81600B"
    what = "module"

    def __init__(self, model: Any, name: str, **options: Any) -> None:
        self.slot = int(options.get("slot", 1))
        serial = str(options.get("serial", "DE00000001"))
        self.module_idn = f"Keysight Technologies,{options.get('module', self.default_module)},{serial},V2.0"
        self.idn = f"Keysight Technologies,{options.get('mainframe', '8164B')},MY00000001,V5.25(72637)"
        super().__init__(model, name, **options)

    def _here(self, slot: int) -> bool:
        """True if a header addresses this module's slot; queue the mainframe's error otherwise."""
        if slot != self.slot:
            self.push_error(-241, f"Hardware missing; no {self.what} in slot {slot}")
            return False
        return True

    @scpi("SLOT{slot}:IDN?")
    def _slot_idn(self, args: str, slot: int) -> str | None:
        return self.module_idn if self._here(slot) else None
