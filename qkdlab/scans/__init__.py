"""Characterization procedures: Bench + Store -> one self-describing HDF5 run each.

Each scan module has ``KIND``, ``TITLE``, ``PARAMETERS`` (``Parameter`` specs), the procedure
``run_<kind>(bench, store, *, progress=None, **params)``, ``quicklook(run)`` (headline numbers) and
``plot(run, fig)`` (the run's standard figure, drawn from the file alone). The same procedures
run on hardware and on the simulated bench.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import Any

from ..errors import ConfigError, DataError

__all__ = ["SCANS", "scan_module", "run_scan", "check_scan_defaults", "check_config_scan_defaults", "plot_run"]

#: Scan kind (as on the command line and in the runs) -> module below ``qkdlab.scans``.
SCANS: dict[str, str] = {
    "extinction-ratio": "extinction_ratio",
    "isolation": "isolation",
    "phase-modulation": "phase_modulation",
    "detector-efficiency": "detector_efficiency",
    "pulse-correlations": "pulse_correlations",
    "leakage-light": "leakage_light",
    "mode-dependence": "mode_dependence",
}


def scan_module(kind: str) -> ModuleType:
    """The module implementing scan ``kind``; ``ValueError`` naming the known kinds otherwise."""
    try:
        module = SCANS[kind]
    except KeyError:
        raise ValueError(f"unknown scan kind {kind!r}; kinds: {', '.join(SCANS)}") from None
    return import_module(f"{__name__}.{module}")


def run_scan(kind: str, bench: Any, store: Any, **params: Any) -> Any:
    """Run scan ``kind`` (``run_<kind>`` of its module); returns the finished run's summary."""
    module = scan_module(kind)
    return getattr(module, f"run_{module.__name__.rsplit('.', 1)[1]}")(bench, store, **params)


def check_scan_defaults(kind: str, defaults: dict[str, Any]) -> None:
    """Validate a bench config's ``scans.<kind>`` mapping (``ValueError`` naming what is wrong)."""
    from .base import resolve_parameters

    module = scan_module(kind)
    if not isinstance(defaults, dict):
        raise ValueError(f"scans.{kind}: expected a mapping of parameter names to values")
    try:
        resolve_parameters(kind, module.PARAMETERS, defaults, {})
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def check_config_scan_defaults(config: Any) -> Any:
    """Check every ``scans.<kind>`` mapping of a bench config; returns the config, or raises
    ``ConfigError`` naming the key. Called before any instrument is opened."""
    for kind, defaults in config.scans.items():
        try:
            check_scan_defaults(kind, defaults)
        except ValueError as exc:
            raise ConfigError(f"invalid bench config: scans.{kind}: {exc}") from None
    return config


def plot_run(run: Any, path: str) -> None:
    """Draw the standard figure of a run (read with ``Store.read``) into an image file."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    try:
        module = scan_module(run.kind)
    except ValueError:
        raise DataError(f"{run.path}: run {run.name} is of kind {run.kind!r}, which has no standard figure") from None
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    if run.summary.points == 0:
        raise DataError(f"{run.path}: run {run.name} holds no points ({run.status}); nothing to plot")
    module.plot(run, fig)
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise DataError(f"{path}: cannot write the figure ({exc.strerror or exc})") from None
