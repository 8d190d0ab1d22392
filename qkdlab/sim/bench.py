"""``SimulatedBench``: one physics model plus one emulator per instrument, reachable through the real stacks.

VISA instruments are reached as ``pyvisa.ResourceManager("@qkdsim").open_resource(<their resource>)``;
serial instruments as ``serial.serial_for_url("qkdsim://<name>?bench=<key>")``; library instruments
(the time tagger) are handed to their driver directly. A new bench per test keeps state from
leaking between tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pyvisa import rname

from . import registry
from .instruments import Emulator, emulator_class
from .physics import SimParameters, TransmitterModel

__all__ = ["SimInstrument", "SimulatedBench"]


@dataclass(frozen=True)
class SimInstrument:
    """One simulated instrument: its config name, driver, resource string and emulator options."""

    name: str
    driver: str
    resource: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    #: An emulator class to use instead of the registered one for ``driver`` (custom instruments).
    emulator: type | None = None


def _canonical(resource: str) -> str | None:
    try:
        return str(rname.parse_resource_name(resource))
    except rname.InvalidResourceName:
        return None


class SimulatedBench:
    """The simulated transmitter bench: a ``TransmitterModel`` and its instruments' emulators."""

    def __init__(self, instruments: Iterable[SimInstrument], model: TransmitterModel | None = None, *,
                 parameters: SimParameters | None = None, seed: int = 0, activate: bool = True) -> None:
        self.model = model if model is not None else TransmitterModel(parameters, seed=seed)
        self.instruments = {spec.name: spec for spec in instruments}
        self.emulators: dict[str, Any] = {}
        self._by_resource: dict[str, Emulator] = {}  # keyed by upper-case canonical resource name
        self._resource_names: list[str] = []
        for spec in self.instruments.values():
            emulator = (spec.emulator or emulator_class(spec.driver))(self.model, spec.name, **spec.options)
            self.emulators[spec.name] = emulator
            canonical = _canonical(spec.resource) if isinstance(emulator, Emulator) else None
            if canonical and emulator.serial_settings is None:
                self._by_resource[canonical.upper()] = emulator
                self._resource_names.append(spec.resource)
        self.key = registry.register(self, activate_it=activate)

    # -- lookups used by the VISA backend and the serial URL handler -------------------------
    def emulator_for_resource(self, resource: str) -> Emulator | None:
        canonical = _canonical(resource)
        return self._by_resource.get(canonical.upper()) if canonical else None

    def emulator_for_serial(self, name: str) -> Emulator | None:
        emulator = self.emulators.get(name)
        if isinstance(emulator, Emulator) and emulator.serial_settings is not None:
            return emulator
        return None

    def visa_resources(self) -> list[str]:
        return sorted(self._resource_names)

    def serial_url(self, name: str) -> str:
        """The pyserial URL that reaches serial instrument ``name`` of this bench."""
        return f"qkdsim://{name}?bench={self.key}"

    @property
    def visa_library(self) -> str:
        """The pyvisa library string that reaches this bench's VISA instruments."""
        return f"{self.key}@qkdsim"

    def close(self) -> None:
        """Unregister: its resources no longer open."""
        registry.unregister(self.key)

    def __enter__(self) -> SimulatedBench:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
