"""MDI-QKD key rates of a leaky polarization source over distance, as ``KeyRateResult``s.

Assembles the parts of Bourassa et al., PRA 106, 062618 (2022):

- the signal states' Gram matrix (:mod:`.leakage_models`: the encoded qubit, flaw δ, test-state
  azimuth, times leakage light of Model 1, 2 or 3 with |α|² per slot);
- the honest link that replaces an experiment (:mod:`.detection`: LCQ Bell-state measurement with
  threshold detectors; symmetric links: ``distance_km`` is the Alice-Charlie distance of each
  link, as on the x axis of the paper's Fig. 3 — Alice and Bob are twice as far apart);
- single-photon p_pass,1,1 exactly (single-photon sources) or bounded by the decoy LPs
  (:mod:`.decoy`, App. A);
- the certified Gram-matrix phase-error SDP per announcement (:mod:`.gram_sdp`, Sec. II A);
- Eq. (A6) with the conventions pinned down in :mod:`.keyrate`.

The SDP problem is built once per source and re-solved per distance with new data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...model import KeyRateResult, SolverReport, SourceModel
from ...transmitter import PhaseProfile
from ..keyrate import KeyRateCurve
from .detection import BB84_STATES, THREE_STATES, MdiSetup
from .gram_sdp import GramPhaseErrorBound
from .keyrate import decoy_key_rate, single_photon_key_rate
from .leakage_models import (
    CoherentLeakage,
    FullInformationLeakage,
    TimeDependentLeakage,
    encoded_jones,
    leakage_light,
    nominal_phases,
    signal_gram,
)

__all__ = ["MDI_PROTOCOLS", "MdiSource", "mdi_key_rate"]

MDI_PROTOCOLS = {"mdi-bb84": tuple(BB84_STATES), "mdi-three-state": tuple(THREE_STATES)}


@dataclass(frozen=True)
class MdiSource:
    """Alice's (and, symmetric, Bob's) leaky source: protocol, leakage model and |α|², geometry, flaws.

    ``leakage_model`` None: no leakage light. The phase-modulator geometry (electrode transit L,
    drive-pulse width w, Faraday mirror) shapes Model 3; the defaults are the paper's.
    """

    protocol: str
    leakage_model: int | None = 3
    leakage_intensity: float = 0.0
    profile: PhaseProfile = field(default_factory=lambda: PhaseProfile(150e-12, 200e-12, True))
    delta: float = 0.0
    test_azimuth: float = math.pi / 2

    def __post_init__(self) -> None:
        if self.protocol not in MDI_PROTOCOLS:
            raise ValueError(f"MDI protocol {self.protocol!r}: use one of {', '.join(MDI_PROTOCOLS)}")
        if self.leakage_model not in (None, 1, 2, 3):
            raise ValueError(f"leakage model {self.leakage_model!r}: use 1, 2 or 3")
        if not (math.isfinite(self.leakage_intensity) and self.leakage_intensity >= 0):
            raise ValueError(f"leakage intensity |α|² = {self.leakage_intensity} must be finite and non-negative")

    @classmethod
    def from_model(cls, model: SourceModel, protocol: str, leakage_model: int = 3) -> MdiSource:
        """The calibrated leakage (|α|² = upper bound of μ per slot, PM geometry) and flaw δ of a SourceModel.

        δ is taken at the end of its interval farthest from 0 (the larger flaw).
        """
        if model.leakage is None:
            raise ValueError("the source model has no leakage-light calibration (run the extinction-ratio and "
                             "leakage-light scans and recalibrate), or give --leakage-intensity")
        light = leakage_light(model.leakage, leakage_model)  # type: ignore[arg-type]
        delta = 0.0
        if model.delta is not None:
            ends = [v for v in (model.delta.lower, model.delta.upper, model.delta.value) if v is not None]
            delta = max(ends, key=abs)
        profile = light.profile if isinstance(light, TimeDependentLeakage) else cls().profile
        return cls(protocol, leakage_model, light.mean_photons, profile, delta)

    @property
    def states(self) -> tuple[str, ...]:
        return MDI_PROTOCOLS[self.protocol]

    def phases(self) -> np.ndarray:
        return nominal_phases(self.states, self.test_azimuth, self.delta)

    def gram(self) -> np.ndarray:
        mu = self.leakage_intensity
        light = {None: None, 1: FullInformationLeakage(mu), 2: CoherentLeakage(mu),
                 3: TimeDependentLeakage(mu, self.profile)}[self.leakage_model]
        return signal_gram(self.phases(), light)

    @property
    def label(self) -> str:
        if self.leakage_model is None or self.leakage_intensity == 0:
            return "no leakage"
        return f"Model {self.leakage_model}, |α|² = {self.leakage_intensity:g}"


def mdi_key_rate(source: MdiSource, setup: MdiSetup, distance_km: float | Sequence[float] | np.ndarray, *,
                 decoys: Sequence[float] | None = None, statistics: str = "all", ec_efficiency: float = 1.0,
                 repetition_rate_hz: float = 1e9, pz: float = 0.5,
                 on_point: Callable[[int, int], None] | None = None) -> KeyRateCurve:
    """Asymptotic MDI key rates at each Alice-Charlie distance (symmetric links), one row per announcement.

    Ψ+ and Ψ− are separate keys with their own phase errors (Eq. (A6) per announcement r), so each
    distance gives one :class:`KeyRateResult` per announcement (``announcement`` "psi+"/"psi-", in
    that order); the total key is their sum (:meth:`KeyRateCurve.total_per_pulse`). ``pz``: the
    probability that each user chooses the key basis Z; rates are per emitted pulse pair and include
    the sifting factor pz² (the same convention as prepare-and-measure; pz = 1 is the paper's
    limit). ``decoys``: the intensity set of both users (key from the largest), or None for single
    photons; the key intensity is taken with probability → 1 (the decoy rounds cost nothing).
    ``on_point(i, n)`` is called after each distance with the number of points done and the total
    (a curve takes ~0.3 s per point: faces show progress with it).
    """
    if not 0.0 < pz <= 1.0:
        raise ValueError(f"pz = {pz}: the key-basis probability must lie in (0, 1]")
    gram = source.gram()
    phase_error = GramPhaseErrorBound(gram, gram, source.states, statistics=statistics)  # type: ignore[arg-type]
    jones = encoded_jones(source.phases())
    results = []
    distances = np.atleast_1d(np.asarray(distance_km, float))
    for distance in distances:
        if decoys is None:
            rate = single_photon_key_rate(source.states, setup, distance, phase_error, jones_a=jones, jones_b=jones,
                                          ec_efficiency=ec_efficiency)
        else:
            rate = decoy_key_rate(source.states, setup, distance, phase_error, jones_a=jones, jones_b=jones,
                                  intensities=tuple(decoys), ec_efficiency=ec_efficiency)
        results += _results(source, rate, float(distance), decoys, statistics, repetition_rate_hz,
                            list(phase_error.results.values()), pz)
        if on_point is not None:
            on_point(len(results) // len(rate.per_outcome), len(distances))
    return KeyRateCurve(results)


def _results(source: MdiSource, rate, distance: float, decoys, statistics: str, repetition_rate_hz: float,
             solves: list, pz: float) -> list[KeyRateResult]:
    conservative = [s for s in solves if s.conservative]
    report = SolverReport(
        solver=",".join(sorted({s.solver for s in solves})) or "closed form",
        status=",".join(sorted({s.status for s in solves})) or "optimal",
        certified=all(s.certified for s in solves), gap=max((abs(s.gap) for s in solves), default=0.0),
        conservative=bool(conservative), message="; ".join(s.message for s in conservative),
        attempts=tuple(a for s in solves for a in s.report.attempts),
        runs=tuple(r for s in solves for r in s.report.runs),
        seconds=sum(s.report.seconds for s in solves))
    assumptions = (
        "measurement-device-independent: the relay and its detectors are untrusted",
        f"signal states: {source.protocol[4:]} polarization states (δ = {source.delta:g}) with leakage light "
        f"({source.label}); the users' sources are independent and identical",
        "single-photon components from " + ("the decoy-state LPs (phase-randomised coherent pulses, intensities "
                                            f"{', '.join(f'{m:g}' for m in decoys)})" if decoys else
                                            "single-photon sources"),
        f"phase error from the certified Gram-matrix SDP ({statistics} statistics) per announcement, asymptotic key",
        "sifting: pz → 1 for both users (the paper's convention): no pulse is lost to sifting" if pz == 1 else
        f"sifting: rates per emitted pulse include both users' key-basis choice, pz² = {pz:.4g}²",
    )
    sifting = pz * pz
    return [KeyRateResult(method="mdi-gram-sdp", protocol=source.protocol, announcement=part.outcome,
                          key_rate_per_pulse=0.0 if conservative else part.key_rate * sifting,
                          key_rate_bps=0.0 if conservative else part.key_rate * sifting * repetition_rate_hz,
                          phase_error=part.phase_error, bit_error=part.qber, key_detection_rate=part.gain * sifting,
                          repetition_rate_hz=repetition_rate_hz, distance_km=distance, assumptions=assumptions,
                          solver=report, epsilon=0.0,
                          parameters={"leakage_model": str(source.leakage_model),
                                      "leakage_intensity": source.leakage_intensity,
                                      "ec_efficiency": rate.ec_efficiency, "statistics": statistics, "pz": pz,
                                      "pz_bob": pz})
            for part in rate.per_outcome]
