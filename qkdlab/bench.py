"""``Bench``: opens the instruments a config names, on hardware or on the simulated bench.

With ``simulate=True`` the same config runs against ``qkdlab.sim``: a ``SimulatedBench`` is built
from the config (one emulator per instrument, at the instrument's own VISA address) and only the
*endpoint* changes — VISA instruments use the ``@qkdsim`` library, serial instruments the
``qkdsim://`` URL of their emulator, library instruments (time tagger) the simulated backend. The
drivers themselves run unchanged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .config import VISA_LIBRARY_ENV, BenchConfig
from .drivers import driver_class
from .errors import ConfigError, QkdlabError

__all__ = ["Bench", "InstrumentStatus"]


@dataclass
class InstrumentStatus:
    """What ``Bench.check`` found for one instrument."""

    name: str
    driver: str
    resource: str
    ok: bool
    identity: str = ""
    state: dict[str, Any] | None = None
    error: str = ""


class Bench:
    """The open instruments of a bench config; use as a context manager so everything closes."""

    def __init__(self, config: BenchConfig, *, simulate: bool = False, visa_library: str | None = None,
                 unsupported_queries: Mapping[str, Iterable[str]] | None = None) -> None:
        """``visa_library``: a VISA library the *user* names (a path, from ``--visa-library`` or the
        ``QKDLAB_VISA_LIBRARY`` environment variable), used instead of each instrument's backend.
        A bench config alone can only name pyvisa's own backends (see ``qkdlab.config``).
        ``unsupported_queries``: instrument name -> queries a bench probe found unanswered
        (``qkdlab.probe.ProbeRecord.unsupported_by_instrument``); their drivers skip them."""
        self.config = config
        self.unsupported_queries = {name: set(q) for name, q in (unsupported_queries or {}).items()}
        self.simulate = simulate
        self.visa_library = visa_library if visa_library is not None else os.environ.get(VISA_LIBRARY_ENV) or None
        self.instruments: dict[str, Any] = {}
        self.failures: dict[str, str] = {}
        self.sim: Any = None
        if simulate:
            from .sim import SimInstrument, SimParameters, SimulatedBench

            try:
                parameters = SimParameters.from_dict(config.simulation.parameters)
                specs = [SimInstrument(name, inst.driver, inst.resource, dict(inst.sim))
                         for name, inst in config.instruments.items()]
                self.sim = SimulatedBench(specs, parameters=parameters, seed=config.simulation.seed)
            except (TypeError, ValueError, KeyError) as exc:
                raise ConfigError(f"cannot build the simulated bench from config {config.name!r}: {exc}") from None

    @classmethod
    def simulated(cls, seed: int = 2026, **parameters: Any) -> Bench:
        """The built-in simulated bench with its own seed and ground-truth overrides (not yet opened).

        ``parameters`` are fields of ``qkdlab.sim.physics.SimParameters`` (e.g.
        ``im_extinction_ratio_db=20``); use as ``with Bench.simulated(seed=3, pm_memory=[]).open() as bench``.
        """
        from .config import builtin_sim_config, parse_config

        data = builtin_sim_config().model_dump(mode="json")
        data["simulation"] = {"seed": seed, "parameters": parameters}
        return cls(parse_config(data), simulate=True)

    # -- opening ---------------------------------------------------------------------------
    def open(self, *, strict: bool = True) -> Bench:
        """Open every instrument. With ``strict`` the first failure closes the rest and raises."""
        for name in self.config.instruments:
            try:
                self.instruments[name] = self._open_one(name)
            except QkdlabError as exc:
                self.failures[name] = str(exc)
                if strict:
                    self.close()
                    raise
        return self

    def _open_one(self, name: str) -> Any:
        inst = self.config.instruments[name]
        cls = driver_class(inst.driver)
        settings = {key: value for key, value in inst.settings.items() if key != "visa_library"}
        interface = getattr(cls, "interface", "visa")
        if interface == "library":
            if self.simulate:
                return self.sim.emulators[name]
            return cls(inst.resource, name, **settings)
        resource = inst.resource
        if self.unsupported_queries.get(name):
            settings["unsupported_queries"] = self.unsupported_queries[name]
        if interface == "visa":
            settings["visa_library"] = (self.sim.visa_library if self.simulate else
                                        self.visa_library or inst.visa_library)
        elif self.simulate:
            resource = self.sim.serial_url(name)
        return cls(resource, name, safety_limits=inst.limits, **settings)

    # -- use -------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        try:
            return self.instruments[name]
        except KeyError:
            raise KeyError(f"bench {self.config.name!r} has no open instrument {name!r}; "
                           f"open ones: {sorted(self.instruments)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.instruments)

    def check(self) -> list[InstrumentStatus]:
        """Open everything that will open, identify it and snapshot its settings; report the rest."""
        if not self.instruments:
            self.open(strict=False)
        report = []
        for name, inst in self.config.instruments.items():
            status = InstrumentStatus(name, inst.driver, inst.resource, ok=False)
            if name in self.failures:
                status.error = self.failures[name]
            else:
                instrument = self.instruments[name]
                try:
                    status.identity = str(instrument.identify())
                    status.ok = True  # it answers; a settings problem below is reported, not fatal
                    status.state = instrument.snapshot(update=True)
                except QkdlabError as exc:
                    status.error = str(exc) if not status.ok else f"settings snapshot failed: {exc}"
            report.append(status)
        return report

    def snapshot(self) -> dict[str, Any]:
        """Identity and settings of every open instrument (what scans store with their data)."""
        return {name: {"identity": str(inst.identify()), "settings": inst.snapshot()}
                for name, inst in self.instruments.items()}

    def wait(self, seconds: float) -> None:
        """Let the bench settle for ``seconds``: real time on hardware, the virtual clock in simulation.

        Why the difference: the simulated instruments integrate on the model's clock, so a
        settling time only has to move that clock; sleeping would just make simulated scans slow.
        """
        if seconds <= 0:
            return
        if self.sim is not None:
            self.sim.model.advance(seconds)
        else:
            time.sleep(seconds)

    def close(self) -> None:
        """Close every instrument, then the simulated bench; never raises for one that will not close."""
        for instrument in self.instruments.values():
            try:
                instrument.close()
            except Exception:  # closing must reach every instrument even if one link is dead
                pass
        self.instruments.clear()
        if self.sim is not None:
            self.sim.close()

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
