"""Secret-key rates with imperfect sources: the one entry point, :func:`key_rate`.

Key rate (phase-error-correction form; Koashi, NJP 11, 045018 (2009); Shor & Preskill 2000;
GLLP 2004), per emitted pulse:

- asymptotic: R = s_1 [1 − h(e_ph^U)] − f n_key h(E_key), with s_1 the (single-photon) key-round
  detections per pulse, e_ph^U the phase-error-rate bound of the chosen method, n_key the key-round
  detections, E_key their bit-error rate and f the error-correction inefficiency;
- finite key (block of N pulses): ℓ = N s_1^L [1 − h(e_ph^U)] − λ_EC − log2(2/ε_cor) − log2(1/ε_PA),
  λ_EC = f N n_key h(E_key), secret with ε_sec = √(2(ε_PE + ε_PA)) where ε_PE bounds the failure
  of the parameter estimation (we set ε_PE = ε_PA = ε_sec²/4); see docs/keyrate-derivation.md.
  With pulse correlations of length l_c the rounds are post-processed in l_c + 1 groups
  (framework paper, App. A.3): each group has N/(l_c + 1) pulses and ε_sec/(l_c + 1).

Methods: "lt" (loss-tolerant, ε = 0 only), "gllp" (quantum coin, BB84 only), "rt" (reference
technique, sequential: at most one pulse in the fiber, so the repetition rate is at most
v/L with v = 2e8 m/s), "ltqc" (loss-tolerant quantum coin), "best" (all that apply, the largest
secure rate per row, the winner named; best.py). See phase_error.py for equations.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..model import FiniteKeyReport, KeyRateResult, Observations, SolverReport, SourceModel
from .best import applicable_methods, best_of
from .channel import SPEED_IN_FIBER_M_PER_S, Channel
from .coin import gllp_pair, ltqc_families
from .coin_q import best_over_q
from .overlap_sdp import max_distance
from .phase_box import box_phase_error
from .phase_error import loss_tolerant, quantum_coin, reference_technique
from .source import AnalysisSource
from .states import lt_decomposition
from .concentration import CONCENTRATIONS
from .statistics import Estimates, estimate, stack_estimates

__all__ = ["METHODS", "FiniteKey", "KeyRateCurve", "key_rate", "grouped_key_rate", "binary_entropy", "plob_bound",
           "sequential_repetition_rate"]

METHODS = ("ltqc", "gllp", "rt", "lt", "best")
#: Relative tolerance of the LT bound over a phase box (phase_box.py); the bound is rigorous for any value.
_BOX_TOLERANCE = 0.01
#: Probabilities s of the virtual emission sampling with which a finite-key coin bound sums the per-round
#: distances Δ_k (docs/finite-key-proof.md §7). Each is a valid bound at ε_PE / len; the best per row is kept.
_COIN_SAMPLING = (0.5, 0.3, 0.15, 0.07, 0.03)
#: Relative tolerance of the loss-tolerant coin's search over q (coin_q.py); every value it reports is a bound.
_Q_TOLERANCE = 1e-4

_ASSUMPTIONS = {
    "common": ("Bob's detection probability does not depend on his basis choice",
               "Alice's key bits are equiprobable and her choices are independent of the past"),
    "lt": ("ε = 0: the emitted states are the characterized qubit states (no side channels)",),
    "rt": ("sequential attacks only: Alice emits a pulse after Bob has measured the previous one",
           "fidelity ≥ 1 − ε between each emitted state and its characterized qubit state"),
    "ltqc": ("fidelity ≥ 1 − ε between each emitted state and its characterized qubit state (coherent attacks)",),
    "gllp": ("fidelity ≥ 1 − ε between each emitted state and its characterized qubit state (coherent attacks)",),
}


@dataclass(frozen=True)
class FiniteKey:
    """A finite block: N pulses, secrecy and correctness parameters, the concentration inequality."""

    block_size: float
    epsilon_sec: float = 1e-10
    epsilon_cor: float = 1e-10
    concentration: str = "chernoff"

    def __post_init__(self) -> None:
        if self.concentration not in CONCENTRATIONS:
            raise ValueError(f"concentration {self.concentration!r}: use one of {', '.join(CONCENTRATIONS)}")
        if not self.block_size >= 1:
            raise ValueError(f"block size {self.block_size} must be at least 1 pulse")
        for name in ("epsilon_sec", "epsilon_cor"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name} = {getattr(self, name)} must lie in (0, 1)")


class KeyRateCurve(Sequence[KeyRateResult]):
    """Key-rate results over distances, with the columns as arrays."""

    def __init__(self, results: Sequence[KeyRateResult]) -> None:
        self.results = tuple(results)

    def __getitem__(self, index):  # type: ignore[override]
        return self.results[index]

    def __len__(self) -> int:
        return len(self.results)

    def _column(self, name: str) -> np.ndarray:
        return np.array([getattr(r, name) if getattr(r, name) is not None else np.nan for r in self.results], float)

    @property
    def distance_km(self) -> np.ndarray:
        return self._column("distance_km")

    @property
    def key_rate_bps(self) -> np.ndarray:
        return self._column("key_rate_bps")

    @property
    def key_rate_per_pulse(self) -> np.ndarray:
        return self._column("key_rate_per_pulse")

    @property
    def phase_error(self) -> np.ndarray:
        return self._column("phase_error")

    @property
    def announcement(self) -> list[str | None]:
        return [r.announcement for r in self.results]

    def total_per_pulse(self) -> tuple[np.ndarray, np.ndarray]:
        """(distances, key per pulse summed over the announcements at each distance): MDI's Ψ+ and Ψ−
        are separate keys whose lengths add; a prepare-and-measure curve is returned as it is."""
        distances = self.distance_km
        unique = np.unique(distances[~np.isnan(distances)])
        if unique.size == 0 or all(a is None for a in self.announcement):
            return distances, self.key_rate_per_pulse
        rates = self.key_rate_per_pulse
        return unique, np.array([rates[distances == d].sum() for d in unique])

    def max_distance(self) -> float:
        """The largest distance with a positive key (0 if none)."""
        positive = self.distance_km[self.key_rate_per_pulse > 0]
        return float(positive.max()) if positive.size else 0.0


def binary_entropy(p: np.ndarray | float) -> np.ndarray:
    """h(p), with h = 1 for p ≥ 1/2 (no key beyond) and h(0) = 0."""
    p = np.clip(np.asarray(p, float), 0.0, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -p * np.log2(p) - (1 - p) * np.log2(1 - p)
    return np.where(p <= 0, 0.0, np.where(p >= 0.5, 1.0, h))


def plob_bound(distance_km: np.ndarray | float, fiber_loss_db_per_km: float) -> np.ndarray:
    """Repeaterless bound −log2(1 − η) bits per pulse (Pirandola et al., Nat. Commun. 8, 15043 (2017))."""
    eta = 10.0 ** (-fiber_loss_db_per_km * np.asarray(distance_km, float) / 10.0)
    return -np.log2(1.0 - np.minimum(eta, 1 - 1e-16))


def sequential_repetition_rate(distance_km: np.ndarray | float, repetition_rate_hz: float) -> np.ndarray:
    """At most one pulse in flight: min(f, v/L), v = 2e8 m/s (framework paper, Sec. 3, Fig. 2)."""
    length_m = np.asarray(distance_km, float) * 1e3
    with np.errstate(divide="ignore"):
        return np.minimum(repetition_rate_hz, np.where(length_m > 0, SPEED_IN_FIBER_M_PER_S / length_m, np.inf))


def _rows(result: KeyRateResult | KeyRateCurve) -> list[KeyRateResult]:
    return [result] if isinstance(result, KeyRateResult) else list(result)


def _source(source: SourceModel | AnalysisSource) -> AnalysisSource:
    return source if isinstance(source, AnalysisSource) else AnalysisSource.from_model(source)


def _phase_probability(method: str, src: AnalysisSource, data: Estimates
                       ) -> tuple[np.ndarray, SolverReport, float, list[str] | None]:
    """(P(ph)^U per round (D,), solver report, ε used, the coin pair chosen per row or None).

    Phase intervals: LT maximises its bound over the box (phase_box.py); the other methods absorb
    the box into ε (source.py). The loss-tolerant coin tries every candidate decomposition and
    every q of [F] Eqs. (10)-(11) (coin_q.py) and keeps, per row, the smallest certified bound: each
    is valid for the same data, so their minimum is (docs/keyrate-derivation.md, Sec. 3).
    """
    if method == "lt":
        if src.epsilon > 0:
            raise ValueError(f"the loss-tolerant analysis assumes ε = 0 but this source has ε = {src.epsilon:.3g}; "
                             "use ltqc (or rt) for a source with side channels")
        if not src.has_intervals:
            return loss_tolerant(lt_decomposition(src.states), data), SolverReport(), 0.0, None
        phases = src.ket_phases()
        if phases is not None:      # real qubit states: maximise the LT bound over the box (phase_box.py)
            widths = dict(zip(src.states.labels, src.phase_halfwidths))
            report = SolverReport(solver="interval branch and bound", message=f"within {_BOX_TOLERANCE:.0%} of the "
                                  "relaxed maximum over the phase box")
            return box_phase_error(phases, widths, data, _BOX_TOLERANCE), report, 0.0, None
        method = "ltqc"         # complex states: the box is ε_eff-close to the centre, the LT coin covers it
    if method == "rt":
        epsilon = src.effective_epsilon()
        return reference_technique(lt_decomposition(src.states), epsilon, data), SolverReport(), epsilon, None
    if method == "ltqc":
        epsilon = src.effective_epsilon()
        search = best_over_q(ltqc_families(src.states), epsilon, data, _Q_TOLERANCE)
        return search.bound, search.report, epsilon, search.choice
    if method == "gllp":
        epsilon = src.effective_epsilon()
        pair = gllp_pair(src.states)
        overlap = max_distance(pair, epsilon)
        return quantum_coin(pair, overlap.distance, data), overlap.report, epsilon, None
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def _uses_coin(method: str, src: AnalysisSource) -> bool:
    """Whether _phase_probability bounds the phase error with a quantum coin (LT on complex boxed states falls back)."""
    return method in ("ltqc", "gllp") or (method == "lt" and src.has_intervals and src.ket_phases() is None)


def _interval_assumptions(method: str, src: AnalysisSource) -> tuple[str, ...]:
    """How the phase intervals enter: LT's bound over the whole box, or the box absorbed into ε (source.py)."""
    if not src.has_intervals:
        return ()
    widest = max(src.phase_halfwidths)
    if method == "lt" and src.ket_phases() is not None:
        return (f"phase intervals (half-width ≤ {widest:.3g} rad): the loss-tolerant bound maximised over the whole "
                f"box by interval branch and bound (within {_BOX_TOLERANCE:.0%} of the relaxed maximum)",)
    text = (f"phase intervals (half-width ≤ {widest:.3g} rad) absorbed into ε_eff = {src.effective_epsilon():.3g} "
            "(Fubini-Study triangle inequality): bound over the whole box")
    if method == "lt":
        text += "; complex states: the loss-tolerant quantum coin at ε_eff (coherent attacks)"
    return (text,)


def key_rate(source: SourceModel | AnalysisSource, data: Observations | Sequence[Observations] | Channel,
             method: str = "ltqc", finite: FiniteKey | float | None = None, *,
             distance_km: float | Sequence[float] | np.ndarray | None = None,
             ec_efficiency: float = 1.16, pz: float | None = None) -> KeyRateResult | KeyRateCurve:
    """Secure lower bound on the secret-key rate of a characterized source, per emitted pulse.

    ``data``: observed statistics (one :class:`Observations`, or a sequence giving a curve), or a
    :class:`Channel` to simulate at ``distance_km`` (a number: one result; an array: a curve).
    ``finite``: None for the asymptotic rate, a block size N, or a :class:`FiniteKey`.
    ``ec_efficiency``: f of the error correction applied to observed data (a channel has its own).
    ``pz``: probability that Alice and Bob each choose the key basis Z on a simulated channel
    (default: the channel's own, 1/2). Rates include the sifting it implies (the key rounds are a
    fraction p_Z^A p_Z^B of the pulses); ``pz=1`` is the asymptotic efficient-BB84 limit of the
    papers' figures (Lo, Chau, Ardehali 2005), evaluated as the exact pz → 1 limit: asymptotically
    every term of the rate is proportional to p_Z^A p_Z^B. Observed data carry their own probabilities.
    """
    src = _source(source)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if isinstance(finite, (int, float)):
        finite = FiniteKey(float(finite))
    if pz is not None:
        if not isinstance(data, Channel):
            raise ValueError("pz sets the basis probabilities of a simulated channel; observed data carry their own "
                             "(Observations.setting_probabilities and bob_basis_probabilities)")
        return _efficient_limit(src, data, method, finite, distance_km, pz)
    if method == "best":
        rows = best_of(lambda m, fk: _rows(key_rate(src, data, m, fk, distance_km=distance_km,
                                                    ec_efficiency=ec_efficiency)), applicable_methods(src), finite)
        single = isinstance(data, Observations) or (isinstance(data, Channel) and np.ndim(distance_km) == 0)
        return rows[0] if single else KeyRateCurve(rows)
    groups = src.correlation_length + 1
    if isinstance(data, Channel):
        if distance_km is None:
            raise ValueError("give distance_km with a channel model")
        distances = np.atleast_1d(np.asarray(distance_km, float))
        block = None if finite is None else finite.block_size / groups
        emissions, counts = data.expected_counts(src.states, distances, block)
        meta = dict(settings=src.states.labels, bob=(data.bob_z_probability, 1 - data.bob_z_probability),
                    source=data.source, intensities=data.intensities, rep=data.repetition_rate_hz,
                    f=data.ec_efficiency, fiber=data.fiber_loss_db_per_km)
        results = _evaluate(src, method, finite, groups, counts, emissions, distances, meta)
        return results[0] if np.ndim(distance_km) == 0 else KeyRateCurve(results)
    observations = [data] if isinstance(data, Observations) else list(data)
    if not observations:
        raise ValueError("no observations given")
    first = observations[0]
    if first.protocol != src.protocol or first.settings != src.states.labels:
        raise ValueError(f"observations of the {first.protocol} settings {first.settings} do not match the source "
                         f"model's {src.protocol} settings {src.states.labels}")
    if finite is not None and groups > 1 and not all(o.expected for o in observations):
        raise ValueError(f"the source has pulse correlations of length {groups - 1}: finite-key analysis of counted "
                         f"data needs the counts of each of the {groups} post-processing groups separately "
                         "(use grouped_key_rate)")
    counts = np.array([o.count_array for o in observations]) / (groups if finite is not None else 1)
    emissions = np.array([o.emission_array for o in observations]) / (groups if finite is not None else 1)
    meta = dict(settings=first.settings, bob=first.bob_basis_probabilities, source=first.source,
                intensities=first.intensities, rep=first.repetition_rate_hz or 1.0, f=ec_efficiency, fiber=float("nan"),
                design=_design(observations, finite is not None))
    distances = np.array([o.distance_km if o.distance_km is not None else np.nan for o in observations])
    results = _evaluate(src, method, finite, groups, counts, emissions, distances, meta)
    return results[0] if isinstance(data, Observations) else KeyRateCurve(results)


def _efficient_limit(src: AnalysisSource, channel: Channel, method: str, finite: FiniteKey | None,
                     distance_km: float | Sequence[float] | np.ndarray | None, pz: float
                     ) -> KeyRateResult | KeyRateCurve:
    """The channel with both basis probabilities pz; pz = 1 (asymptotic only) as the exact limit pz → 1."""
    if not 0.0 < pz <= 1.0:
        raise ValueError(f"pz = {pz}: the key-basis probability must lie in (0, 1]")
    if pz < 1.0:
        return key_rate(src, dataclasses.replace(channel, alice_z_probability=pz, bob_z_probability=pz), method,
                        finite, distance_km=distance_km)
    if finite is not None:
        raise ValueError("pz = 1 leaves no test rounds: a finite key needs pz < 1 (e.g. 0.9)")
    inner = key_rate(src, dataclasses.replace(channel, alice_z_probability=0.5, bob_z_probability=0.5), method,
                     distance_km=distance_km)
    scale = 1.0 / (0.5 * 0.5)

    def limit(r: KeyRateResult) -> KeyRateResult:
        notes = tuple(a for a in r.assumptions if not a.startswith("sifting")) + (_sifting_note(1.0, 1.0),)
        return r.model_copy(update={"key_rate_per_pulse": r.key_rate_per_pulse * scale,
                                    "key_rate_bps": r.key_rate_bps * scale,
                                    "key_detection_rate": r.key_detection_rate * scale, "assumptions": notes,
                                    "parameters": {**r.parameters, "pz": 1.0, "pz_bob": 1.0}})

    return limit(inner) if isinstance(inner, KeyRateResult) else KeyRateCurve([limit(r) for r in inner])


def _sifting_note(pz_alice: float, pz_bob: float) -> str:
    if pz_alice == pz_bob == 1.0:
        return "sifting: pz → 1, asymptotic efficient BB84 (the papers' convention): no pulse is lost to sifting"
    return (f"sifting: rates per emitted pulse include the key-round fraction p_Z^A p_Z^B = {pz_alice:.4g} × "
            f"{pz_bob:.4g}")


def _design(observations: Sequence[Observations], required: bool) -> np.ndarray | None:
    """Alice's design probabilities, when given (always needed for a finite key of counted data)."""
    if required or all(o.setting_probabilities is not None or o.expected for o in observations):
        return np.array([o.design_probabilities() for o in observations])
    return None


def _basis_probabilities(meta: dict, emissions: np.ndarray) -> tuple[float, float]:
    """(Alice's, Bob's) probability of the key basis Z: design probabilities if given, else emitted fractions."""
    design = meta.get("design")
    weights = np.asarray(design if design is not None else emissions, float)
    weights = weights.reshape((-1,) + weights.shape[-2:])[0]
    z = [i for i, label in enumerate(meta["settings"]) if label.startswith("Z")]
    return float(weights[z].sum() / weights.sum()), float(meta["bob"][0])


def _evaluate(src: AnalysisSource, method: str, finite: FiniteKey | None, groups: int, counts: np.ndarray,
              emissions: np.ndarray, distances: np.ndarray, meta: dict, replicas: int | None = None
              ) -> list[KeyRateResult]:
    """Rates of each data set (leading axis); each is one of ``groups`` post-processing groups.

    ``replicas``: how many such groups the reported block holds (``groups`` when one data set
    stands for all of them, as for the channel model; 1 when each data set is its own group).
    """
    replicas = groups if replicas is None else replicas
    if finite is None:
        eps_pe = eps_pa = None
    else:
        eps_group = finite.epsilon_sec / groups
        eps_pe = eps_pa = eps_group**2 / 4.0
    concentration = "chernoff" if finite is None else finite.concentration
    grid = _COIN_SAMPLING if finite is not None and _uses_coin(method, src) else (0.0,)
    # one block of rows per sampling probability, evaluated together (the union bound: ε_PE split among them)
    data = stack_estimates([estimate(counts, emissions, meta["settings"], meta["bob"], meta["source"],
                                     meta["intensities"], failure=None if eps_pe is None else eps_pe / len(grid),
                                     probabilities=meta.get("design"), concentration=concentration, sampling=sampling)
                            for sampling in grid])
    p_phase, report, eps_used, choices = _phase_probability(method, src, data)
    single = data.key_detections if meta["source"] == "single-photon" else data.single_key_low
    phase_errors = data.phase_errors_upper(p_phase)
    with np.errstate(divide="ignore", invalid="ignore"):
        e_ph = np.where(single > 0, np.minimum(phase_errors / single, 0.5), 0.5)
    privacy = single * (1.0 - binary_entropy(e_ph))
    rows = np.arange(len(distances))
    pick = np.argmax(privacy.reshape(len(grid), -1), axis=0)              # per row, the best sampling
    chosen = pick * len(rows) + rows
    privacy, single, e_ph = privacy[chosen], single[chosen], e_ph[chosen]
    choices = None if choices is None else [choices[i] for i in chosen]
    data = dataclasses.replace(data, **{name: getattr(data, name)[rows] for name in ("key_detections", "key_errors",
                                                                                     "rounds")})
    with np.errstate(divide="ignore", invalid="ignore"):
        e_bit = np.where(data.key_detections > 0, data.key_errors / data.key_detections, 0.5)
    f = meta["f"]
    leak = f * data.key_detections * binary_entropy(e_bit)
    if finite is None:
        per_pulse = np.maximum(privacy - leak, 0.0)
        if report.conservative:
            per_pulse = np.zeros_like(per_pulse)
    else:
        rounds = data.rounds
        length = rounds * (privacy - leak) - math.log2(2.0 / finite.epsilon_cor) - math.log2(1.0 / eps_pa)
        length = np.where(report.conservative, 0.0, np.maximum(length, 0.0))
        per_pulse = length / rounds
    rep = meta["rep"]
    rates = sequential_repetition_rate(distances, rep) if method == "rt" else np.full(len(distances), rep)
    rates = np.where(np.isnan(rates), rep, rates)
    pz_alice, pz_bob = _basis_probabilities(meta, emissions)
    assumptions = (_ASSUMPTIONS["common"] + _ASSUMPTIONS[method] + (_sifting_note(pz_alice, pz_bob),)
                   + _interval_assumptions(method, src))
    if meta["source"] == "weak-coherent":
        assumptions += ("phase-randomised weak coherent pulses with exact intensities; vacuum + weak decoy bounds",)
    if finite is not None:
        assumptions += (f"{finite.concentration} martingale concentration (coherent attacks)",)
        if len(grid) > 1:
            assumptions += ("finite key: the coin's per-round distances summed over a virtual sampling of the "
                            f"emissions (probability s from {', '.join(f'{g:g}' for g in grid)}, union bound; "
                            "docs/finite-key-proof.md §7)",)
    if groups > 1:
        assumptions += (f"pulse correlations of length {groups - 1}: {groups} post-processing groups",)
    results = []
    for i, distance in enumerate(distances):
        why = _zero_reason(per_pulse[i], report.conservative, single[i], e_ph[i], e_bit[i], f, privacy[i] - leak[i],
                           eps_used, finite)
        finite_report = None
        if finite is not None:
            finite_report = FiniteKeyReport(
                block_size=finite.block_size, epsilon_sec=finite.epsilon_sec, epsilon_cor=finite.epsilon_cor,
                groups=groups, key_length_bits=float(per_pulse[i] * data.rounds[i] * replicas),
                concentration=f"{finite.concentration}, {data.inequalities} inequalities per group"
                + (f" for each of {len(grid)} sampling probabilities (s = {grid[pick[i]]:g} used)" if len(grid) > 1
                   else ""),
                parameter_estimation_failure=float(eps_pe * groups),
                error_correction_bits=float(leak[i] * data.rounds[i] * replicas),
                sifted_key_bits=float(data.key_detections[i] * data.rounds[i] * replicas))
        results.append(KeyRateResult(
            method=method, protocol=src.protocol, key_rate_per_pulse=float(per_pulse[i]),
            key_rate_bps=float(per_pulse[i] * rates[i]), phase_error=float(e_ph[i]), bit_error=float(e_bit[i]),
            key_detection_rate=float(data.key_detections[i]), repetition_rate_hz=float(rates[i]),
            distance_km=None if np.isnan(distance) else float(distance), assumptions=assumptions, solver=report,
            finite=finite_report, epsilon=eps_used,
            parameters={"ec_efficiency": f, "source": meta["source"], "state_model": src.description,
                        "pz": pz_alice, "pz_bob": pz_bob,
                        **({"coin_pair": choices[i]} if choices else {}),
                        **({"coin_sampling": grid[pick[i]]} if len(grid) > 1 else {}),
                        **({"zero_reason": why} if why else {})}))
    return results


def _zero_reason(rate: float, conservative: bool, single: float, e_ph: float, e_bit: float, f: float,
                 asymptotic: float, epsilon: float, finite: FiniteKey | None) -> str:
    """Which term of the key-rate formula made a zero rate zero, and what would restore key ("" if > 0).

    The checks follow the formula from the outside in: a solver that could not certify, no
    single-photon detections to bound, the finite-size terms, then the phase-error bound against
    error correction (the side-channel budget ε enters there).
    """
    if rate > 0:
        return ""
    if conservative:
        return "the phase-error bound could not be certified by any solver (conservative answer); see the solver status"
    if single <= 0:
        return ("no single-photon detections can be bounded: the detection rate is at the level of the dark counts "
                "(a shorter distance or lower dark counts restore key)")
    if finite is not None and asymptotic > 0:
        return (f"finite size: the block of {finite.block_size:.3g} pulses is too small for ε_sec = "
                f"{finite.epsilon_sec:g}, ε_cor = {finite.epsilon_cor:g} (a larger block restores key)")
    privacy, correction = 1.0 - float(binary_entropy(e_ph)), f * float(binary_entropy(e_bit))
    side = f" at the side-channel bound ε = {epsilon:.3g}" if epsilon > 0 else ""
    if e_bit >= 0.11 and correction >= privacy:
        return (f"errors: the QBER {e_bit:.3g} (dark counts and misalignment) costs f·h(e_bit) = {correction:.3g} per "
                f"detection, more than privacy amplification leaves (1 − h(e_ph) = {privacy:.3g}); a shorter "
                "distance, lower dark counts or less misalignment restore key")
    return (f"phase-error bound: e_ph ≤ {e_ph:.3g}{side} leaves 1 − h(e_ph) = {privacy:.3g} per single-photon "
            f"detection, not more than error correction's f·h(e_bit) = {correction:.3g} "
            f"({'a smaller ε, ' if epsilon > 0 else ''}a shorter distance or fewer errors restore key)")


def grouped_key_rate(source: SourceModel | AnalysisSource, groups: Sequence[Observations], method: str = "ltqc",
                     finite: FiniteKey | float | None = None, *, ec_efficiency: float = 1.16) -> KeyRateResult:
    """Finite-key rate of counted data post-processed in l_c + 1 groups (pulse k in group k mod (l_c + 1)).

    Framework paper App. A.3: each group is a protocol of its own with ε_sec/(l_c + 1); the key
    lengths add. ``groups`` holds one :class:`Observations` per group, in order. Without
    ``finite`` the groups are simply added (the asymptotic rate does not see the grouping).
    """
    src = _source(source)
    if method == "best":
        finite = FiniteKey(float(finite)) if isinstance(finite, (int, float)) else finite
        return best_of(lambda m, fk: [grouped_key_rate(src, groups, m, fk, ec_efficiency=ec_efficiency)],
                       applicable_methods(src), finite)[0]
    expected = src.correlation_length + 1
    if len(groups) != expected:
        raise ValueError(f"the source has pulse correlations of length {src.correlation_length}: give the counts of "
                         f"{expected} post-processing groups, not {len(groups)}")
    total = groups[0]
    for group in groups[1:]:
        total = total + group
    if finite is None:
        return key_rate(src, total, method, ec_efficiency=ec_efficiency)  # type: ignore[return-value]
    if isinstance(finite, (int, float)):
        finite = FiniteKey(float(finite))
    if total.protocol != src.protocol or total.settings != src.states.labels:
        raise ValueError(f"observations of the {total.protocol} settings {total.settings} do not match the source "
                         f"model's {src.protocol} settings {src.states.labels}")
    meta = dict(settings=total.settings, bob=total.bob_basis_probabilities, source=total.source,
                intensities=total.intensities, rep=total.repetition_rate_hz or 1.0, f=ec_efficiency,
                fiber=float("nan"), design=np.array([g.design_probabilities() for g in groups]))
    counts = np.array([g.count_array for g in groups])
    emissions = np.array([g.emission_array for g in groups])
    per_group = _evaluate(src, method, finite, expected, counts, emissions, np.full(expected, np.nan), meta,
                          replicas=1)
    pulses = emissions.sum(axis=(1, 2))
    bits = sum(r.key_rate_per_pulse * n for r, n in zip(per_group, pulses))
    per_pulse = bits / pulses.sum()
    worst = max(per_group, key=lambda r: r.phase_error)
    overall = key_rate(src, total, method, ec_efficiency=ec_efficiency)
    finite_report = worst.finite.model_copy(update={  # type: ignore[union-attr]
        "block_size": float(pulses.sum()), "key_length_bits": float(bits),
        "error_correction_bits": float(sum(r.finite.error_correction_bits for r in per_group)),  # type: ignore
        "sifted_key_bits": float(sum(r.finite.sifted_key_bits for r in per_group))})  # type: ignore[union-attr]
    return worst.model_copy(update={
        "key_rate_per_pulse": float(per_pulse), "key_rate_bps": float(per_pulse * worst.repetition_rate_hz),
        "bit_error": overall.bit_error, "key_detection_rate": overall.key_detection_rate,
        "distance_km": total.distance_km, "finite": finite_report,
        "parameters": {k: v for k, v in worst.parameters.items() if k != "zero_reason" or per_pulse <= 0}})
