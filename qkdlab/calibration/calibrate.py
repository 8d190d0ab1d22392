"""HDF5 runs -> ``SourceModel``: choose the runs, calibrate each, combine ε, account for confidence.

Which runs: the ones named, or else the newest *completed* run of each kind in the file. A run
that did not complete (aborted, failed, interrupted) is refused unless ``allow_partial``; then it
is used and the model is marked partial with a note. A side channel whose run is missing is
likewise refused unless ``allow_partial``, and then enters the inventory as "assumed-absent"
with ε = 0 — visibly, in the report and the model's notes.

Confidence: every calibrated part spends ``1 - confidence`` as its failure probability (split
inside the part over the bounds it makes); the model records each part's share and their sum,
``total_failure_probability``, which the key-rate layer must add to its security parameter.

ε inventory (``EpsilonBudget.combine`` for the rule):

- trojan_horse (isolation run), own optical mode, measured;
- leakage_light (extinction-ratio and leakage-light runs), own temporal modes, measured;
- pulse_correlations (pulse-correlation run, through the phase calibration), qubit degree of
  freedom, measured;
- mode_dependence (mode-dependence run: the pulse's temporal/spectral mode versus the setting),
  own mode, measured (``calibration.mode_dependence``); a bound the user states
  (``mode_dependence_bound``) overrides it and is recorded as "bounded-by-design", stated by the
  user, with the measured value kept in the part's details. Without either it is
  "assumed-absent", with a note (polarization and spatial dependence are never measured).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import CalibrationError
from ..model import EpsilonBudget, EpsilonPart, SourceModel
from ..store import RunData, Store, now_iso
from .isolation import DAMAGE_PRESETS, calibrate_isolation
from .phase import PhaseCalibration, calibrate_phase
from .provenance import run_provenance

__all__ = ["CalibrationOptions", "select_runs", "calibrate_file"]

NEEDED = ("phase-modulation", "isolation", "extinction-ratio", "leakage-light", "pulse-correlations",
          "detector-efficiency", "mode-dependence")


@dataclass(frozen=True)
class CalibrationOptions:
    """What the user states for a calibration (the CLI's options)."""

    confidence: float = 0.99
    mean_photon_number: float = 0.5
    repetition_rate_hz: float | None = None
    damage_photons_per_s: float = DAMAGE_PRESETS["lucamarini-lidt"][0]
    damage_source: str = DAMAGE_PRESETS["lucamarini-lidt"][1]
    mode_dependence_bound: float | None = None
    passive_attenuation_db: float | None = None  # None: as the isolation run recorded it
    allow_partial: bool = False
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0.5 <= self.confidence < 1.0:
            raise CalibrationError(f"confidence {self.confidence} must be in [0.5, 1)")
        if self.mean_photon_number <= 0:
            raise CalibrationError(f"mean photon number {self.mean_photon_number} must be positive")


def select_runs(store: Store, names: Sequence[str] | None, allow_partial: bool) -> tuple[dict[str, RunData], list[str]]:
    """The runs to calibrate from, by kind, and notes about partial ones."""
    summaries = store.runs()
    if not summaries:
        raise CalibrationError(f"{store.path}: holds no runs to calibrate")
    notes: list[str] = []
    chosen: dict[str, RunData] = {}
    if names:
        for name in names:
            run = store.read(name)
            if run.kind in chosen:
                raise CalibrationError(f"{store.path}: runs {chosen[run.kind].name} and {run.name} are both "
                                       f"{run.kind} runs; name one run per kind")
            chosen[run.kind] = run
    else:
        for summary in reversed(summaries):  # newest first; completed runs preferred
            if summary.kind in chosen:
                continue
            if summary.status == "completed" or (allow_partial and summary.kind not in
                                                 {s.kind for s in summaries if s.status == "completed"}):
                chosen[summary.kind] = store.read(summary.name)
    for kind, run in chosen.items():
        if run.status != "completed":
            if not allow_partial:
                raise CalibrationError(f"{store.path} {run.name}: the {kind} run is {run.status} "
                                       f"({run.summary.reason or 'no reason recorded'}); use a completed run, "
                                       "or --allow-partial to use it anyway (the model is then marked partial)")
            notes.append(f"{run.name} ({kind}) is {run.status}: {run.summary.reason}")
    return chosen, notes


def _unfinished(store: Store, kind: str) -> str:
    """Why a kind has no usable run: the runs of that kind that did not complete, if any."""
    runs = [r for r in store.runs() if r.kind in kind.split(" or ") and r.status != "completed"]
    if not runs:
        return ""
    listing = ", ".join(f"{r.name} is {r.status}" for r in runs)
    return f" ({listing}; --allow-partial uses such runs, marked in the model)"


def _missing(kind: str, store: Store, options: CalibrationOptions, partial: list[str]) -> None:
    if not options.allow_partial:
        raise CalibrationError(f"{store.path}: no usable {kind} run{_unfinished(store, kind)}; run `qkdlab scan "
                               f"{kind.split(' or ')[0]}` into this file, or use --allow-partial (the side channel "
                               "then counts as assumed absent)")
    partial.append(f"no {kind} run: its side channel is assumed absent")


def calibrate_file(path: str | Path, runs: Sequence[str] | None = None,
                   options: CalibrationOptions | None = None,
                   on_stage: Callable[[str], None] | None = None) -> SourceModel:
    """Calibrate the runs of one HDF5 file into a ``SourceModel`` (see the module docstring).

    ``on_stage(what)`` is called as each part starts (the command line shows it), so a
    calibration of large runs is never silent.
    """
    stage = on_stage or (lambda what: None)
    from .correlations import calibrate_correlations
    from .detectors import calibrate_detectors
    from .leakage import calibrate_leakage
    from .mode_dependence import calibrate_mode_dependence

    options = options or CalibrationOptions()
    store = Store(path)
    stage(f"reading the runs of {store.path.name}")
    chosen, partial = select_runs(store, runs, options.allow_partial)
    notes: list[str] = []
    unknown = sorted(set(chosen) - set(NEEDED))
    if unknown:
        raise CalibrationError(f"{store.path}: runs of kind {unknown} are not used by calibration")
    kappa = 1.0 - options.confidence
    spent: list[float] = []
    parts: list[EpsilonPart] = []
    extra: dict[str, Any] = {}

    if "phase-modulation" not in chosen:
        raise CalibrationError(f"{store.path}: no completed phase-modulation run{_unfinished(store, 'phase-modulation')}; "
                               "the qubit states cannot be characterized without one (run `qkdlab scan "
                               "phase-modulation`)")
    stage("qubit states and δ (phase-modulation run)")
    phase: PhaseCalibration = calibrate_phase(chosen["phase-modulation"], failure_probability=kappa)
    spent.append(kappa)

    rate = options.repetition_rate_hz or _repetition_rate(chosen, required="isolation" in chosen)
    if "isolation" in chosen:
        stage("Trojan-horse isolation (isolation run)")
        gamma, tha = calibrate_isolation(chosen["isolation"], failure_probability=kappa, repetition_rate_hz=rate,
                                         damage_photons_per_s=options.damage_photons_per_s,
                                         damage_source=options.damage_source,
                                         passive_attenuation_db=options.passive_attenuation_db)
        parts.append(tha)
        extra["isolation"] = gamma
        spent.append(kappa)
    else:
        _missing("isolation", store, options, partial)
        parts.append(_assumed_absent("trojan_horse", "own-mode"))

    er_run, leak_run = chosen.get("extinction-ratio"), chosen.get("leakage-light")
    if er_run is not None or leak_run is not None:
        stage("leakage light (extinction-ratio / leakage-light runs)")
        leakage, leak_part = calibrate_leakage(er_run, leak_run, mean_photon_number=options.mean_photon_number,
                                               failure_probability=kappa)
        parts.append(leak_part)
        extra["leakage"] = leakage
        spent.append(leak_part.failure_probability or kappa)
    else:
        _missing("extinction-ratio or leakage-light", store, options, partial)
        parts.append(_assumed_absent("leakage_light", "own-mode"))

    if "pulse-correlations" in chosen:
        stage("pulse correlations (pulse-correlations run)")
        correlations, corr_part = calibrate_correlations(
            chosen["pulse-correlations"], visibility=phase.visibility.value, fringe_phase_at=phase.fringe_phase_at,
            failure_probability=kappa)
        parts.append(corr_part)
        extra["correlations"] = correlations
        spent.append(corr_part.failure_probability or kappa)
    else:
        _missing("pulse-correlations", store, options, partial)
        parts.append(_assumed_absent("pulse_correlations", "qubit"))

    measured = None
    if "mode-dependence" in chosen:
        stage("mode dependence (mode-dependence run)")
        _, measured = calibrate_mode_dependence(chosen["mode-dependence"], failure_probability=kappa)
    if options.mode_dependence_bound is not None:
        details = {"measured_upper": measured.upper, "measured_run": measured.provenance.run} \
            if measured is not None and measured.provenance is not None else {}
        parts.append(EpsilonPart(name="mode_dependence", upper=options.mode_dependence_bound,
                                 degree_of_freedom="own-mode", inventory="bounded-by-design",
                                 method="stated by the user (qkdlab calibrate --mode-dependence)", details=details))
        if measured is not None:
            notes.append(f"mode dependence: the stated bound {options.mode_dependence_bound:.3g} replaces the measured "
                         f"{measured.upper:.3g} ({measured.provenance.run if measured.provenance else 'run'})")
    elif measured is not None:
        parts.append(measured)
        spent.append(kappa)
    else:
        parts.append(_assumed_absent("mode_dependence", "own-mode"))
        notes.append("mode dependence is not measured (no mode-dependence run): assumed absent; run `qkdlab scan "
                     "mode-dependence` into this file, or state a bound with --mode-dependence")

    if "detector-efficiency" in chosen:
        # the monitor's average power includes the inter-pulse light: allow for it in μ's lower bound
        leak = extra.get("leakage")
        allowance = leak.relative_energy.upper if leak is not None and leak.relative_energy.upper is not None else 0.0
        if leak is None:
            notes.append("no leakage calibration: μ of the detector scan is not corrected for inter-pulse light")
        stage("detector table (detector-efficiency run)")
        extra["detectors"] = calibrate_detectors(chosen["detector-efficiency"], failure_probability=kappa,
                                                 mu_leakage_allowance=allowance)
        spent.append(kappa)
    else:
        notes.append("no detector-efficiency run: the model has no detector table")

    provenance = tuple(run_provenance(run, method="input run") for run in chosen.values())
    return SourceModel(
        protocol=phase.protocol, states=phase.states, delta=phase.delta,
        delta_fit_residual_rad=phase.delta_fit_residual_rad, epsilon=EpsilonBudget.combine(parts),
        leakage=extra.get("leakage"), correlations=extra.get("correlations"), detectors=extra.get("detectors"),
        isolation=extra.get("isolation"), repetition_rate_hz=rate, confidence=options.confidence,
        total_failure_probability=sum(spent),
        provenance=provenance, partial=bool(partial), notes=tuple(options.notes) + tuple(partial) + tuple(notes),
        created=now_iso(), qkdlab_version=__version__)


def _assumed_absent(name: str, dof: str) -> EpsilonPart:
    return EpsilonPart(name=name, upper=0.0, degree_of_freedom=dof, inventory="assumed-absent",  # type: ignore[arg-type]
                       method="not measured; assumed absent")


def _repetition_rate(chosen: dict[str, RunData], required: bool = True) -> float | None:
    """The pulse rate the scans used (the source's repetition rate), from the first run that states it."""
    for run in chosen.values():
        if "pulse_rate" in run.parameters:
            return float(run.parameter("pulse_rate").to("Hz").magnitude)
    if not required:
        return None
    raise CalibrationError("no run states the pulse rate; give the source's repetition rate (--rep-rate)")
