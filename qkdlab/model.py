"""The contracts between layers: ``SourceModel`` (calibration -> analysis).

A ``SourceModel`` holds what security proofs for imperfect sources need to know about a
transmitter, each number with its bound, its failure probability and where it came from:

- the characterized qubit states (phases of the encoding settings, with intervals) and the
  modulation flaw δ of the loss-tolerant family θ_j = (1 + δ/π) φ_j / 2, with the fit residual
  that says how well that one-parameter family describes the measured phases;
- the side-channel bound ε and its parts (Trojan-horse back-reflection, leakage light, pulse
  correlations, ...), each declaring whether it lives in its own optical mode or acts on the
  qubit's degree of freedom, which fixes how the parts combine (Currás-Lorenzo et al. 2025,
  App. A.2-A.3; see :meth:`EpsilonBudget.combine`);
- richer side-channel descriptions (the coherent-state leakage model for the MDI analysis, the
  correlation lags) and the receiver's detector-efficiency table;
- the confidence bookkeeping: every bound has a failure probability, and they add up to
  ``total_failure_probability``, which belongs in the protocol's security parameter.

Conventions: fidelities are squared (F = |<φ|ψ>|², ε = 1 - F). Phases are in rad, relative to
the first setting; the state of phase φ is (|e> + e^{iφ}|l>)/√2, which a fixed unitary maps to
cos(φ/2)|0> + sin(φ/2)|1> (Bloch vector (sin φ, 0, cos φ)), the form the loss-tolerant papers use.

The model is versioned (``schema_version``); ``load`` refuses versions it does not know. JSON is
the primary form; the same JSON is stored in HDF5 calibration groups.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import DataError

__all__ = ["MODEL_SCHEMA_VERSION", "Provenance", "Bound", "QubitState", "EpsilonPart", "EpsilonBudget",
           "DetectorTable", "LeakageModel", "Correlations", "SourceModel", "load_source_model",
           "Observations", "SolverAttempt", "SolverReport", "FiniteKeyReport", "KeyRateResult"]

#: Version of the SourceModel JSON layout; bumped on incompatible changes. Version 1 files (units
#: written as "", provenance naming one run as text) are upgraded on load.
MODEL_SCHEMA_VERSION = 2
#: ``$schema`` of every written model: the JSON schema shipped in ``qkdlab/schemas/``.
SOURCE_MODEL_SCHEMA = "qkdlab/schemas/source-model-v2.schema.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Provenance(_Frozen):
    """Where a number came from, pinned to its data.

    ``file``: the run file (in a saved model, relative to the model file's folder);
    ``file_sha256``: the file's SHA-256 when the number was made; ``runs``: the run(s) it came
    from and ``run_uuids``: their UUIDs (written at run start, so a run is identified even where
    ``run_0001`` exists in every file; empty for runs written before schema 2); ``kind``: the
    runs' kinds; ``method``: what was applied.
    """

    file: str
    runs: tuple[str, ...]
    kind: str
    method: str
    status: str = "completed"
    run_uuids: tuple[str, ...] = ()
    file_sha256: str = ""

    @model_validator(mode="before")
    @classmethod
    def _one_run_as_text(cls, data: Any) -> Any:
        """Accept ``run="run_0001"`` (and schema-1 ``"run_0001+run_0006"``) as ``runs``."""
        if isinstance(data, dict) and "run" in data and "runs" not in data:
            data = {**{k: v for k, v in data.items() if k != "run"}, "runs": tuple(str(data["run"]).split("+"))}
        return data

    @property
    def run(self) -> str:
        """The runs as one label (e.g. for a report column)."""
        return "+".join(self.runs)


class Bound(_Frozen):
    """An estimate with its confidence bounds (``None``: that side is not bounded).

    ``failure_probability`` is the probability that the true value lies outside the stated
    bounds (one-sided bounds spend it all on one side).
    """

    value: float
    lower: float | None = None
    upper: float | None = None
    #: A pint-parseable unit; "1" for dimensionless numbers (checked on load).
    unit: str = "1"
    failure_probability: float = 0.0
    method: str = ""
    provenance: Provenance | None = None

    @field_validator("unit")
    @classmethod
    def _pint_unit(cls, unit: str) -> str:
        return _check_unit(unit or "1")

    def contains(self, truth: float) -> bool:
        """Whether ``truth`` lies within the bounds (the coverage tests use this)."""
        return (self.lower is None or truth >= self.lower) and (self.upper is None or truth <= self.upper)


def _check_unit(unit: str, expected: str | None = None) -> str:
    """``unit`` if pint parses it (and, with ``expected``, it has that unit's dimension); else ValueError."""
    from pint.errors import PintError

    from .units import ureg

    try:
        parsed = ureg.parse_units(unit)
    except (PintError, ValueError, TypeError, AttributeError, AssertionError) as exc:
        raise ValueError(f"unit {unit!r} is not a unit pint understands ({type(exc).__name__}); "
                         "write e.g. 'rad', 'V', 's' or '1' for a plain number") from None
    if expected is not None and parsed.dimensionality != ureg.parse_units(expected).dimensionality:
        raise ValueError(f"unit {unit!r} has dimension {parsed.dimensionality}; expected that of {expected!r}")
    return unit


def _expect_units(owner: BaseModel, expected: dict[str, str]) -> None:
    """Check the units of an object's ``Bound`` fields (single or in tuples) against their dimensions."""
    for name, unit in expected.items():
        value = getattr(owner, name)
        for bound in value if isinstance(value, tuple) else (value,):
            if isinstance(bound, Bound):
                try:
                    _check_unit(bound.unit, unit)
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None


class QubitState(_Frozen):
    """One encoding setting: its label, the phase it should encode, and the phase it does encode."""

    label: str
    nominal_phase: float
    phase: Bound

    @model_validator(mode="after")
    def _units(self) -> QubitState:
        _expect_units(self, {"phase": "rad"})
        return self

    @property
    def bloch(self) -> tuple[float, float, float]:
        """Bloch vector of the estimated state (x-z great circle, +z for phase 0)."""
        return (math.sin(self.phase.value), 0.0, math.cos(self.phase.value))


DegreeOfFreedom = Literal["own-mode", "qubit"]
Inventory = Literal["measured", "bounded-by-design", "assumed-absent"]


class EpsilonPart(_Frozen):
    """One side channel's contribution to ε: an upper bound on 1 - F for every setting.

    ``degree_of_freedom`` "own-mode": the leaked information sits in optical modes of its own
    (back-reflected Trojan-horse light, inter-pulse leakage light, a polarization mode), so the
    state is a tensor factor (App. A.2, Eq. A4) and the product rule applies. "qubit": the
    imperfection acts on the same degree of freedom as the encoding (e.g. a pulse-correlation
    phase shift), so the stricter angle-sum rule applies.
    """

    name: str
    upper: float = Field(ge=0.0, le=1.0)
    degree_of_freedom: DegreeOfFreedom
    inventory: Inventory
    failure_probability: float = 0.0
    provenance: Provenance | None = None
    method: str = ""
    details: dict[str, float | str | bool | list[float]] = Field(default_factory=dict)


class EpsilonBudget(_Frozen):
    """ε and its parts, with the rule that combined them."""

    parts: tuple[EpsilonPart, ...]
    total: float
    rule: str

    @classmethod
    def combine(cls, parts: Sequence[EpsilonPart]) -> EpsilonBudget:
        """Combine the parts into ε.

        Parts acting on the qubit's degree of freedom combine by the angle-sum rule: the
        deviations are angles θ_i = arcsin √ε_i on the same Hilbert space, and by the triangle
        inequality for the Fubini-Study angle the total deviation is at most Σθ_i, so
        ε_qubit = sin²(min(Σθ_i, π/2)). Parts in distinct optical modes are tensor factors, so
        fidelities multiply (App. A.2, Eq. A4; App. A.3, Eqs. A7-A8):
        ε = 1 - (1 - ε_qubit) Π_i (1 - ε_i). Parts "assumed-absent" contribute their stated
        value (usually 0) and stay in the inventory.
        """
        angle = sum(math.asin(math.sqrt(p.upper)) for p in parts if p.degree_of_freedom == "qubit")
        qubit = math.sin(min(angle, math.pi / 2)) ** 2
        fidelity = (1.0 - qubit) * float(np.prod([1.0 - p.upper for p in parts if p.degree_of_freedom == "own-mode"]))
        total = 1.0 - fidelity
        rule = ("ε = 1 - (1 - sin²(Σ_qubit arcsin √ε_i)) · Π_own-mode (1 - ε_i) "
                "(angle-sum on the qubit's degree of freedom, product over distinct optical modes)")
        return cls(parts=tuple(parts), total=min(max(total, 0.0), 1.0), rule=rule)

    def part(self, name: str) -> EpsilonPart:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(f"no ε part {name!r}; parts: {[p.name for p in self.parts]}")


class DetectorTable(_Frozen):
    """Efficiencies per detector (rows) and temporal mode (columns, gate delays), with dark counts.

    ``efficiency[i][t]`` bounds η of detector i for light in mode t (Clopper-Pearson on the
    counts, propagated through η = -ln[(1 - p)/(1 - p_dark)]/μ). This is the η_{i,t} table of
    the efficiency-mismatch analysis (Zhang et al., PRR 3, 013076 (2021), Tables I-II);
    ``two_mode`` is its reduced Table-I form [[η1, η2], [η2, η1]] at the operating delay and the
    most adverse delay, and ``mismatch_ratio`` is η_min/η_max at the operating delay.
    """

    detectors: tuple[str, ...]
    delays_s: tuple[float, ...]
    efficiency: tuple[tuple[Bound, ...], ...]
    dark_probability: tuple[Bound, ...]
    operating_delay_s: float
    mismatch_ratio: Bound
    two_mode: tuple[tuple[float, float], tuple[float, float]]
    provenance: Provenance | None = None

    @model_validator(mode="after")
    def _units(self) -> DetectorTable:
        for row in self.efficiency:
            for bound in row:
                _check_unit(bound.unit, "1")
        _expect_units(self, {"dark_probability": "1", "mismatch_ratio": "1"})
        return self


class LeakageModel(_Frozen):
    """The inter-pulse leakage light as a coherent state (for ε_leak and the MDI Gram-matrix SDP).

    ``mean_photons_per_slot``: μ_leak, the mean photon number of the light between two pulses,
    bounded above; ``relative_energy``: leak energy per slot over pulse energy; ``times_s`` and
    ``profile``: the intensity versus time within one period (relative to the pulse peak); the
    phase-modulator geometry that shapes the leak's phase (Bourassa et al. 2022, App. D).
    """

    mean_photons_per_slot: Bound
    relative_energy: Bound
    extinction_ratio_db: Bound | None = None
    times_s: tuple[float, ...] = ()
    profile: tuple[float, ...] = ()
    pm_electrode_transit_s: float | None = None
    drive_pulse_width_s: float | None = None
    faraday_mirror: bool = False
    provenance: tuple[Provenance, ...] = ()

    @model_validator(mode="after")
    def _units(self) -> LeakageModel:
        _expect_units(self, {"mean_photons_per_slot": "1", "relative_energy": "1", "extinction_ratio_db": "dB"})
        return self


class Correlations(_Frozen):
    """Pulse correlations: ε_l per lag (upper bounds), the correlation length and the resolution.

    ``length`` l_c is the largest lag whose effect exceeds ``resolution`` (the smallest deviation
    the measurement could exclude); ε_l bounds 1 - F between the states of a pulse whose setting l
    pulses back differs (App. A.3, Eq. A6). ``intensity_deviation`` is the largest relative change
    of the pulse energy per lag (for decoy-state intensity-correlation analyses).
    """

    length: int
    epsilon_per_lag: tuple[float, ...]
    phase_deviation_per_lag: tuple[Bound, ...]
    intensity_deviation: tuple[float, ...]
    resolution: float
    provenance: Provenance | None = None

    @model_validator(mode="after")
    def _units(self) -> Correlations:
        _expect_units(self, {"phase_deviation_per_lag": "rad"})
        return self


class SourceModel(_Frozen):
    """Everything calibration found about the transmitter (and the receiver's detectors)."""

    schema_version: int = MODEL_SCHEMA_VERSION
    protocol: Literal["bb84", "three-state"]
    states: tuple[QubitState, ...]
    delta: Bound | None = None
    delta_fit_residual_rad: float | None = None
    epsilon: EpsilonBudget
    leakage: LeakageModel | None = None
    correlations: Correlations | None = None
    detectors: DetectorTable | None = None
    isolation: Bound | None = None
    #: The source's repetition rate (Hz) the model was calibrated for (it sets ε_THA's photons per
    #: pulse); commands that need a rate take it from here unless told otherwise.
    repetition_rate_hz: float | None = Field(default=None, gt=0)
    confidence: float
    total_failure_probability: float
    provenance: tuple[Provenance, ...] = ()
    partial: bool = False
    notes: tuple[str, ...] = ()
    created: str = ""
    qkdlab_version: str = ""

    @model_validator(mode="after")
    def _units(self) -> SourceModel:
        _expect_units(self, {"delta": "rad", "isolation": "1"})
        return self

    # -- persistence -------------------------------------------------------------------------
    def to_json(self, relative_to: str | Path | None = None) -> str:
        """The model as JSON: ``$schema`` first, repeated method texts stored once.

        Every ``method`` text is written once in the top-level ``methods`` list and referred to
        as ``"@N"`` where it is used (a calibration repeats one method in hundreds of bounds).
        With ``relative_to`` (the folder the JSON is written to), provenance file paths are
        written relative to it, so a model and its data can move together.
        """
        import json
        import os

        data = self.model_dump(mode="json")
        methods: list[str] = []

        def compact(node: Any) -> Any:
            if isinstance(node, dict):
                out = {}
                for key, value in node.items():
                    if key == "method" and isinstance(value, str) and value:
                        if value not in methods:
                            methods.append(value)
                        value = f"@{methods.index(value)}"
                    elif key == "file" and isinstance(value, str) and value and relative_to is not None:
                        value = os.path.relpath(Path(value).resolve(), Path(relative_to).resolve())
                    out[key] = compact(value)
                return out
            if isinstance(node, list):
                return [compact(v) for v in node]
            return node

        body = compact(data)
        return json.dumps({"$schema": SOURCE_MODEL_SCHEMA, **body, "methods": methods}, indent=2,
                          ensure_ascii=False)

    def save(self, path: str | Path) -> None:
        """Write the model as JSON (a clear ``DataError`` if the file cannot be written)."""
        path = Path(path)
        try:
            path.write_text(self.to_json(relative_to=path.parent), encoding="utf-8")
        except OSError as exc:
            raise DataError(f"{path}: cannot write the source model ({exc.strerror or exc})") from None

    @classmethod
    def from_json(cls, text: str, source: str = "<json>") -> SourceModel:
        """Parse a model, refusing unknown schema versions and invalid content with a clear message."""
        import json

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{source}: not a source model (invalid JSON: {exc})") from None
        if not isinstance(data, dict) or "schema_version" not in data:
            raise DataError(f"{source}: not a qkdlab source model (no schema_version)")
        version = data["schema_version"]
        if version not in (1, MODEL_SCHEMA_VERSION):
            raise DataError(f"{source}: source model schema version {version!r}; this qkdlab reads versions 1 and "
                            f"{MODEL_SCHEMA_VERSION} (upgrade qkdlab, or recalibrate with this version)")
        data = _expanded(data, source)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                                 for e in exc.errors()[:5])
            raise DataError(f"{source}: invalid source model: {problems}") from None


def _expanded(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The JSON as the Python model takes it: methods expanded, provenance files resolved,
    schema version 1 upgraded (units "" → "1", one-run provenance text → list)."""
    methods = data.pop("methods", [])
    data.pop("$schema", None)
    version = data.get("schema_version")
    base = Path(source).parent if source and not source.startswith("<") and ":" not in Path(source).name else None

    def expand(node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            out = {k: expand(v, k) for k, v in node.items()}
            if version == 1 and "value" in out and out.get("unit", None) == "":
                out["unit"] = "1"
            return out
        if isinstance(node, list):
            return [expand(v) for v in node]
        if key == "method" and isinstance(node, str) and node.startswith("@") and node[1:].isdigit():
            index = int(node[1:])
            if index >= len(methods):
                raise DataError(f"{source}: method reference {node} has no entry in 'methods'")
            return methods[index]
        if key == "file" and isinstance(node, str) and node and base is not None and not Path(node).is_absolute():
            return str((base / node).resolve())
        return node

    data = expand(data)
    data["schema_version"] = MODEL_SCHEMA_VERSION
    return data


def load_source_model(path: str | Path) -> SourceModel:
    """Read a model from its JSON file.

    Models kept in an HDF5 run file (a calibration group) are read by
    :func:`qkdlab.calibration.load_source_model`, which accepts either kind of file: this module
    knows the JSON contract only, not where models are kept.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give the source model's JSON file")
    with open(path, "rb") as handle:
        magic = handle.read(8)
    if magic == b"\x89HDF\r\n\x1a\n":
        raise DataError(f"{path}: is an HDF5 file; read its calibration group with "
                        "qkdlab.calibration.load_source_model")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a source model (not a text file); give the model's JSON file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the source model ({exc.strerror or exc})") from None
    return SourceModel.from_json(text, str(path))


# -- analysis contracts --------------------------------------------------------------------------
class Observations(_Frozen):
    """What a prepare-and-measure experiment (or the simulated channel) observed.

    ``counts[j][k][b][o]``: detection events with Alice's setting ``settings[j]`` at intensity
    ``intensities[k]`` when Bob measured in basis ``bob_bases[b]`` and got outcome ``o`` (0 or 1,
    double clicks already assigned at random). ``emissions[j][k]``: pulses Alice sent with that
    setting and intensity (whatever Bob's basis). Bob picks his basis b with probability
    ``bob_basis_probabilities[b]``, independently of everything else, so the yield of outcome o is
    ``counts / (emissions * bob_basis_probabilities[b])``.

    ``expected``: the numbers are expectation values (the channel model's output, for asymptotic
    key rates or for splitting into post-processing groups); ``False`` for counted events.
    ``setting_probabilities[j][k]``: the probabilities with which Alice *chooses* setting j and
    intensity k (her design, not the observed fractions): the finite-key analysis of counted
    data needs them; expected values may omit them (their emissions are exact fractions).
    ``source`` "single-photon": one photon per pulse, ``intensities`` is ``(1.0,)``;
    "weak-coherent": phase-randomised coherent pulses of these mean photon numbers (decoy states;
    the first intensity is the signal the key is made of).
    """

    protocol: Literal["bb84", "three-state"]
    settings: tuple[str, ...]
    source: Literal["single-photon", "weak-coherent"] = "single-photon"
    intensities: tuple[float, ...] = (1.0,)
    bob_bases: tuple[str, ...] = ("Z", "X")
    bob_basis_probabilities: tuple[float, ...]
    emissions: tuple[tuple[float, ...], ...]
    counts: tuple[tuple[tuple[tuple[float, float], ...], ...], ...]
    expected: bool = False
    setting_probabilities: tuple[tuple[float, ...], ...] | None = None
    repetition_rate_hz: float | None = None
    distance_km: float | None = None
    origin: str = ""

    def model_post_init(self, __context: object) -> None:
        n_set, n_int, n_bases = len(self.settings), len(self.intensities), len(self.bob_bases)
        if np.shape(self.emissions) != (n_set, n_int):
            raise ValueError(f"emissions has shape {np.shape(self.emissions)}; expected (settings, intensities) = "
                             f"({n_set}, {n_int})")
        if np.shape(self.counts) != (n_set, n_int, n_bases, 2):
            raise ValueError(f"counts has shape {np.shape(self.counts)}; expected (settings, intensities, Bob bases, "
                             f"2) = ({n_set}, {n_int}, {n_bases}, 2)")
        if len(self.bob_basis_probabilities) != n_bases or not math.isclose(sum(self.bob_basis_probabilities), 1.0,
                                                                            rel_tol=1e-9):
            raise ValueError(f"bob_basis_probabilities {self.bob_basis_probabilities} must have one entry per basis "
                             f"{self.bob_bases} and sum to 1")
        counts, emissions = self.count_array, self.emission_array
        if not (np.all(np.isfinite(counts)) and np.all(counts >= 0) and np.all(emissions >= 0)):
            raise ValueError("counts and emissions must be finite and non-negative")
        if not self.expected and np.any(counts.sum(axis=(-1, -2)) > emissions + 0.5):
            raise ValueError("more detections than emissions for some setting and intensity")
        if self.setting_probabilities is not None:
            design = np.asarray(self.setting_probabilities, dtype=float)
            if design.shape != (n_set, n_int) or np.any(design < 0) or not math.isclose(design.sum(), 1.0,
                                                                                        rel_tol=1e-9):
                raise ValueError(f"setting_probabilities must be ({n_set}, {n_int}) non-negative numbers summing to 1")

    def design_probabilities(self) -> np.ndarray:
        """Alice's choice probabilities per (setting, intensity): the design, or the exact fractions of expected data."""
        if self.setting_probabilities is not None:
            return np.asarray(self.setting_probabilities, dtype=float)
        if not self.expected:
            raise ValueError("counted observations need setting_probabilities (Alice's design choice probabilities "
                             "per setting and intensity) for a finite-key analysis; observed fractions are not "
                             "probabilities")
        return self.emission_array / self.emission_array.sum()

    @property
    def count_array(self) -> np.ndarray:
        return np.asarray(self.counts, dtype=float)

    @property
    def emission_array(self) -> np.ndarray:
        return np.asarray(self.emissions, dtype=float)

    def yields(self) -> np.ndarray:
        """P(detection with outcome o | setting j, intensity k, Bob basis b), shape (j, k, b, o)."""
        sent = self.emission_array[:, :, None] * np.asarray(self.bob_basis_probabilities)[None, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(sent[..., None] > 0, self.count_array / sent[..., None], 0.0)

    def basis_index(self, basis: str) -> int:
        return self.bob_bases.index(basis)

    @property
    def total_emissions(self) -> float:
        return float(self.emission_array.sum())

    def __add__(self, other: Observations) -> Observations:
        """Accumulate two blocks of the same experiment (same settings, intensities, bases)."""
        if (self.settings, self.intensities, self.bob_bases, self.source, self.protocol) != (
                other.settings, other.intensities, other.bob_bases, other.source, other.protocol):
            raise ValueError("cannot add observations of different settings, intensities, bases or protocols")
        if (self.bob_basis_probabilities, self.setting_probabilities) != (other.bob_basis_probabilities,
                                                                            other.setting_probabilities):
            raise ValueError("cannot add observations taken with different basis or setting probabilities")
        return self.model_copy(update={
            "emissions": nested_tuples(self.emission_array + other.emission_array),
            "counts": nested_tuples(self.count_array + other.count_array),
            "expected": self.expected and other.expected,
        })


def nested_tuples(array: np.ndarray) -> tuple:
    """A numpy array as nested tuples of floats (the frozen models' storage form)."""
    if array.ndim == 1:
        return tuple(float(x) for x in array)
    return tuple(nested_tuples(row) for row in array)


class SolverAttempt(_Frozen):
    """One solver run of :func:`qkdlab.analysis.solve.solve`: what ran, how it ended, how long it took.

    ``bound`` is the certified value it gave (None: no certificate) and ``gap`` that bound's distance
    from the solver's own objective value; ``error`` says why a run gave nothing usable.
    """

    solver: str
    status: str
    seconds: float
    bound: float | None = None
    gap: float | None = None
    error: str = ""


class SolverReport(_Frozen):
    """How a numerical bound was obtained: the solver, its status, and the certificate.

    ``certified``: the number used is a rigorous bound built from a feasible dual solution (or
    needs no solver at all); ``gap``: the difference between that bound and the best feasible
    primal value seen (0 when exact). ``conservative``: the solver failed or was unsure and the
    trivially safe value (no key) was used instead; ``message`` says why. ``attempts`` names the
    solver settings tried in order; ``runs`` has their status, timing and bounds, ``seconds`` the
    total solver time.
    """

    solver: str = "closed form"
    status: str = "optimal"
    certified: bool = True
    gap: float = 0.0
    conservative: bool = False
    attempts: tuple[str, ...] = ()
    message: str = ""
    runs: tuple[SolverAttempt, ...] = ()
    seconds: float = 0.0


class FiniteKeyReport(_Frozen):
    """The finite-key bookkeeping of one key-rate point."""

    block_size: float
    epsilon_sec: float
    epsilon_cor: float
    groups: int = 1
    key_length_bits: float
    concentration: str
    parameter_estimation_failure: float
    error_correction_bits: float
    sifted_key_bits: float


class KeyRateResult(_Frozen):
    """One secret-key-rate point: a secure lower bound with everything needed to judge it.

    ``key_rate_per_pulse`` (bits per emitted pulse) and ``key_rate_bps`` (at the repetition rate the
    method allows, which the reference technique's sequential assumption may lower) are 0 when no
    key can be proven. ``phase_error`` is the upper bound on the phase-error rate of the key rounds
    (single-photon rounds with decoy states); ``bit_error`` the observed key-basis error rate.
    Rates include the sifting that the basis probabilities imply (``parameters["pz"]``; pz = 1 is
    the papers' efficient-BB84 limit). ``announcement``: the relay's announcement (MDI: "psi+" or
    "psi-", each a separate key with its own phase error and rate); None for prepare-and-measure.
    """

    method: str
    protocol: str
    key_rate_per_pulse: float
    key_rate_bps: float
    phase_error: float
    bit_error: float
    key_detection_rate: float
    repetition_rate_hz: float
    distance_km: float | None = None
    assumptions: tuple[str, ...] = ()
    solver: SolverReport = SolverReport()
    finite: FiniteKeyReport | None = None
    epsilon: float = 0.0
    parameters: dict[str, float | str] = Field(default_factory=dict)
    announcement: str | None = None
