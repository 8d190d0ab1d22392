"""The Gram-matrix phase-error SDP (Bourassa et al., PRA 106, 062618 (2022), Sec. II A; Primaatmaja
et al., PRA 99, 062332 (2019)): closed form, brute-force attacks, certificates and failure handling."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from qkdlab.analysis.mdi.decoy import single_photon_bounds
from qkdlab.analysis.mdi.detection import (BB84_STATES, THREE_STATES, MdiSetup, coherent_gains,
                                           single_photon_probabilities)
from qkdlab.analysis.mdi.gram_sdp import (DEFAULT_GAP_TOLERANCE, DEFAULT_SOLVERS, GramPhaseErrorBound,
                                          GramPhaseErrorSDP)
from qkdlab.analysis.mdi.keyrate import ideal_phase_error, single_photon_key_rate
from qkdlab.analysis.mdi.leakage_models import (CoherentLeakage, FullInformationLeakage, TimeDependentLeakage,
                                                encoded_jones, nominal_phases, signal_gram)
from qkdlab.transmitter import PhaseProfile
from qkdlab.analysis.mdi.types import DetectionBounds

SETUP = MdiSetup()
OUTCOMES = ("psi+", "psi-")
#: X⊗X parity each Lo-Curty-Qi announcement heralds for equal X-basis test states (Ψ+ correlates, Ψ− anticorrelates)
HERALDED_PARITY = {"psi+": 1, "psi-": -1}


def _honest(states: tuple[str, ...], distance_km: float, outcome: str) -> DetectionBounds:
    jones = encoded_jones(nominal_phases(states))
    p = single_photon_probabilities(jones, jones, SETUP, distance_km)[..., [OUTCOMES.index(outcome)]]
    return DetectionBounds(p, p, (outcome,))


def _sdp(states, outcomes, leakage=None, **options) -> GramPhaseErrorSDP:
    gram = signal_gram(nominal_phases(states), leakage)
    return GramPhaseErrorSDP(gram, gram, states, states, outcomes, **options)


# -- (1) the closed form at |α|² = 0 ---------------------------------------------------------------
@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("distance_km", [10.0, 60.0])
def test_ideal_states_reproduce_the_closed_form_for_bb84_and_three_states(outcome: str, distance_km: float) -> None:
    bb84 = _honest(BB84_STATES, distance_km, outcome)
    closed = ideal_phase_error(BB84_STATES)(bb84)
    results = [_sdp(BB84_STATES, (outcome,)).solve(bb84),
               _sdp(BB84_STATES, (outcome,), statistics="matched").solve(bb84),
               _sdp(THREE_STATES, (outcome,)).solve(_honest(THREE_STATES, distance_km, outcome))]
    for result in results:
        assert result.certified and not result.conservative
        assert result.phase_error_upper == pytest.approx(closed, rel=1e-4, abs=2e-8)
        assert result.phase_error_upper >= closed - 1e-12          # a certified bound never undercuts the truth
        # (3) the certified value and the solver's value agree to the stated tolerance
        assert abs(result.gap) <= DEFAULT_GAP_TOLERANCE


def test_decoy_intervals_give_a_bound_between_the_truth_and_the_closed_form() -> None:
    jones = encoded_jones(nominal_phases(BB84_STATES))
    intensities = (0.05, 0.1, 0.6)
    bounds = single_photon_bounds(coherent_gains(jones, jones, intensities, intensities, SETUP, 25.0), intensities)
    r = bounds.outcomes.index("psi-")
    sliced = DetectionBounds(bounds.lower[..., [r]], bounds.upper[..., [r]], ("psi-",))
    result = _sdp(BB84_STATES, ("psi-",)).solve(sliced)
    truth = ideal_phase_error(BB84_STATES)(_honest(BB84_STATES, 25.0, "psi-"))
    assert result.certified and abs(result.gap) <= DEFAULT_GAP_TOLERANCE
    assert truth - 1e-12 <= result.phase_error_upper <= ideal_phase_error(BB84_STATES)(sliced) + 1e-9


# -- (2) never below the phase error of an explicit attack ----------------------------------------
def _vectors(gram: np.ndarray) -> np.ndarray:
    """Columns with these inner products (V†V = G)."""
    values, vectors = np.linalg.eigh(gram)
    return np.sqrt(np.clip(values, 0, None))[:, None] * vectors.conj().T


def _virtual_frame(gram: np.ndarray, states: tuple[str, ...]) -> tuple[float, int]:
    """γ and the bit of the reference test state, by the rule stated in gram_sdp's docstring."""
    z0, z1 = states.index("0Z"), states.index("1Z")
    weight = np.abs(gram[z0] * gram[z1])
    weight[[z0, z1]] = -1
    ref = int(np.argmax(weight))
    return float(np.angle(gram[z1, ref]) - np.angle(gram[z0, ref])), int(states[ref][0])


def _phase_error_by_brute_force(pass_vectors: dict, gram_a, gram_b, states, outcome: str) -> float:
    """Eq. (B1) on the explicit virtual state Σ_xy e^{i(γ_A x + γ_B y)} |x, y⟩|e_xy⟩."""
    (gamma_a, bit_a), (gamma_b, bit_b) = _virtual_frame(gram_a, states), _virtual_frame(gram_b, states)
    key = [states.index("0Z"), states.index("1Z")]
    eve_dim = len(pass_vectors[key[0], key[0]])
    virtual = sum(np.kron(np.eye(4)[2 * x + y], np.exp(1j * (gamma_a * x + gamma_b * y)) * pass_vectors[key[x], key[y]])
                  for x in (0, 1) for y in (0, 1))
    parity = HERALDED_PARITY[outcome] * (1 if bit_a == bit_b else -1)
    pauli_x = np.array([[0, 1], [1, 0]])
    wrong = (np.eye(4) - parity * np.kron(pauli_x, pauli_x)) / 2          # projector onto the wrong X⊗X parity
    operator = np.kron(wrong, np.eye(eve_dim))
    return float(np.real(virtual.conj() @ operator @ virtual) / np.real(virtual.conj() @ virtual))


def _random_source(rng: np.random.Generator, states: tuple[str, ...], leak: tuple[float, float] = (1e-3, 1e-2),
                   flaw: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Flawed encoded qubits with weak Model-2 leakage: Jones vectors (n, 2) and leakage vectors (n, n)."""
    phases = nominal_phases(states, offsets=rng.normal(0, flaw, len(states)))
    leakage = CoherentLeakage(float(rng.uniform(*leak))).overlaps(phases)
    return encoded_jones(phases), _vectors(leakage).T


def _joint_vectors(alice, bob) -> np.ndarray:
    """|ψ_a⟩|χ_a⟩ ⊗ |φ_b⟩|ζ_b⟩ ordered (qubit A, qubit B, leak A, leak B), shape (nA, nB, dim)."""
    (qa, la), (qb, lb) = alice, bob
    return np.einsum("ai,bj,ak,bl->abijkl", qa, qb, la, lb).reshape(len(qa), len(qb), -1)


def _gram(vectors: np.ndarray) -> np.ndarray:
    """Gram matrix of the rows."""
    return vectors.conj() @ vectors.T


def _user_gram(user) -> np.ndarray:
    qubits, leak = user
    return _gram(qubits) * _gram(leak)


def _near_honest_kraus(rng: np.random.Generator, dim: int, noise: float, sign: int = -1) -> np.ndarray:
    """A pass operator K (K†K ⪯ 1): a lossy Ψ− (sign −1) or Ψ+ (+1) projection on the qubits plus a random
    part, ignoring the leak."""
    singlet = np.array([0, 1, sign, 0]) / np.sqrt(2)
    honest = 0.4 * np.kron(np.outer(singlet, singlet), np.eye(dim // 4))
    random = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
    kraus = honest + noise * random / np.linalg.norm(random, 2)
    return kraus / max(1.0, np.linalg.norm(kraus, 2))


@pytest.mark.parametrize("states,outcomes", [(BB84_STATES, ("psi-",)), (THREE_STATES, ("psi+", "psi-"))])
def test_random_explicit_attacks_never_beat_the_bound(states, outcomes) -> None:
    rng = np.random.default_rng(7)
    n = len(states)
    values = []
    for trial in range(3):
        alice, bob = _random_source(rng, states), _random_source(rng, states)
        joint = _joint_vectors(alice, bob)
        noise = {"psi-": 0.03 * trial, "psi+": 0.3}           # Ψ− near honest, Ψ+ mostly random
        # each K_r†K_r ⪯ 1/len(outcomes), so Σ_r K_r†K_r ⪯ 1
        kraus = np.array([_near_honest_kraus(rng, joint.shape[-1], noise[o]) / np.sqrt(len(outcomes)) for o in outcomes])
        pass_vectors = np.einsum("rxy,aby->abrx", kraus, joint)
        p = np.sum(np.abs(pass_vectors) ** 2, axis=-1)
        k = outcomes.index("psi-")
        gram_a, gram_b = _user_gram(alice), _user_gram(bob)
        truth = _phase_error_by_brute_force({(a, b): pass_vectors[a, b, k] for a in range(n) for b in range(n)},
                                            gram_a, gram_b, states, "psi-")
        sdp = GramPhaseErrorSDP(gram_a, gram_b, states, states, outcomes, key_outcome="psi-")
        for width in (0.0, 0.05):
            result = sdp.solve(DetectionBounds(p * (1 - width), np.minimum(p * (1 + width), 1.0), outcomes))
            assert result.certified
            assert result.phase_error_upper >= min(truth, 0.5) - 1e-9
            values.append(result.phase_error_upper)
    assert min(values) < 0.4                               # the checks are not vacuous (bounds below 1/2)


def test_three_state_psi_plus_bound_holds_against_explicit_attacks_with_leakage() -> None:
    """The Ψ+ key of the three-state protocol, checked independently: near-honest Ψ+ attacks on leaky,
    flawed sources (their true phase error from the explicit virtual state, Eq. (B1)) never beat the
    bound, and with honest statistics the bound stays close to the truth (it is not vacuous)."""
    rng = np.random.default_rng(21)
    states, outcomes = THREE_STATES, ("psi+", "psi-")
    n, k = len(states), outcomes.index("psi+")
    gaps = []
    for trial in range(3):
        alice, bob = (_random_source(rng, states, (1e-6, 1e-5), 0.02) for _ in range(2))
        joint = _joint_vectors(alice, bob)
        kraus = np.array([_near_honest_kraus(rng, joint.shape[-1], 0.02 * trial, sign=+1),
                          _near_honest_kraus(rng, joint.shape[-1], 0.3)]) / np.sqrt(2)
        pass_vectors = np.einsum("rxy,aby->abrx", kraus, joint)
        p = np.sum(np.abs(pass_vectors) ** 2, axis=-1)
        gram_a, gram_b = _user_gram(alice), _user_gram(bob)
        truth = _phase_error_by_brute_force({(a, b): pass_vectors[a, b, k] for a in range(n) for b in range(n)},
                                            gram_a, gram_b, states, "psi+")
        sdp = GramPhaseErrorSDP(gram_a, gram_b, states, states, outcomes, key_outcome="psi+")
        result = sdp.solve(DetectionBounds(p, p, outcomes))
        assert result.certified and not result.conservative
        assert result.phase_error_upper >= min(truth, 0.5) - 1e-9
        gaps.append(result.phase_error_upper - truth)
    assert max(gaps) < 0.03                                 # and stays near the attacks' true phase error


def test_random_feasible_gram_matrices_never_beat_the_bound() -> None:
    rng = np.random.default_rng(11)
    states = BB84_STATES
    for _ in range(4):
        alice, bob = _random_source(rng, states), _random_source(rng, states)
        joint = _joint_vectors(alice, bob).reshape(16, -1)
        gram_a, gram_b = _user_gram(alice), _user_gram(bob)
        # the feasible pass blocks 0 ⪯ G_P ⪯ G_A ⊗ G_B form a convex set: mix an honest one with a random one
        honest = _gram(joint @ _near_honest_kraus(rng, joint.shape[1], 0.0).T)
        v = _vectors(_gram(joint))
        w = rng.normal(size=(len(v), len(v))) + 1j * rng.normal(size=(len(v), len(v)))
        m = w @ w.conj().T / np.linalg.eigvalsh(w @ w.conj().T).max()
        mix = rng.uniform(0.0, 0.1)
        pass_gram = (1 - mix) * honest + mix * (v.conj().T @ m @ v)
        vectors = _vectors(pass_gram)
        truth = _phase_error_by_brute_force({(a, b): vectors[:, 4 * a + b] for a in range(4) for b in range(4)},
                                            gram_a, gram_b, states, "psi-")
        p = np.real(np.diag(pass_gram)).reshape(4, 4, 1)
        result = GramPhaseErrorSDP(gram_a, gram_b, states, states, ("psi-",)).solve(DetectionBounds(p, p, ("psi-",)))
        assert result.certified and min(truth, 0.5) - 1e-9 <= result.phase_error_upper < 0.5


# -- (4) solver failures --------------------------------------------------------------------------
def test_a_failing_solver_is_retried_with_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    original, calls = cp.Problem.solve, []

    def fail_first(self, *args, **kwargs):
        calls.append(kwargs.get("solver"))
        if len(calls) == 1:
            raise cp.error.SolverError("mock failure")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cp.Problem, "solve", fail_first)
    bounds = _honest(BB84_STATES, 20.0, "psi-")
    result = _sdp(BB84_STATES, ("psi-",)).solve(bounds)
    assert len(calls) == 2 and result.certified and not result.conservative
    assert "mock failure" in result.message
    assert result.phase_error_upper == pytest.approx(ideal_phase_error(BB84_STATES)(bounds), rel=1e-4)


@pytest.mark.parametrize("failure", ["raise", "infeasible"])
def test_every_solver_failing_gives_the_conservative_value(monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    calls = []

    def broken(self, *args, **kwargs):
        calls.append(kwargs.get("solver"))
        if failure == "raise":
            raise cp.error.SolverError("mock failure")
        self._status = cp.INFEASIBLE

    monkeypatch.setattr(cp.Problem, "solve", broken)
    result = _sdp(BB84_STATES, ("psi-",)).solve(_honest(BB84_STATES, 20.0, "psi-"))
    assert calls == [spec.name for spec in DEFAULT_SOLVERS]
    assert result.conservative and not result.certified and result.phase_error_upper == 0.5
    assert "every solver failed" in result.message and (failure == "raise" or "infeasible" in result.message)


def test_no_key_basis_lower_bound_is_conservative() -> None:
    bounds = _honest(BB84_STATES, 20.0, "psi-")
    result = _sdp(BB84_STATES, ("psi-",)).solve(DetectionBounds(np.zeros_like(bounds.lower), bounds.upper, ("psi-",)))
    assert result.conservative and result.phase_error_upper == 0.5 and "lower bound 0" in result.message


def test_bad_inputs_are_named() -> None:
    gram = signal_gram(nominal_phases(BB84_STATES))
    with pytest.raises(ValueError, match="key-basis states"):
        GramPhaseErrorSDP(gram[2:, 2:], gram[2:, 2:], ("0X", "1X"), ("0X", "1X"), ("psi-",))
    with pytest.raises(ValueError, match="not positive semidefinite"):
        GramPhaseErrorSDP(gram - 0.5 * np.eye(4), gram, BB84_STATES, BB84_STATES, ("psi-",))
    with pytest.raises(ValueError, match="lack"):
        _sdp(BB84_STATES, ("psi-",)).solve(_honest(BB84_STATES, 20.0, "psi+"))


# -- (5) leakage models at equal |α|² ---------------------------------------------------------------
def test_model_ordering_in_the_bb84_geometry() -> None:
    mean_photons, distance = 1e-4, 20.0
    models = (FullInformationLeakage(mean_photons), CoherentLeakage(mean_photons),
              TimeDependentLeakage(mean_photons, PhaseProfile(150e-12, 200e-12)))
    bounds = _honest(BB84_STATES, distance, "psi-")
    errors = [_sdp(BB84_STATES, ("psi-",), leakage).solve(bounds) for leakage in models]
    assert all(e.certified for e in errors)
    values = [e.phase_error_upper for e in errors]
    assert values[0] > values[1] > values[2] > ideal_phase_error(BB84_STATES)(bounds)
    rates = []
    for leakage in models:
        gram = signal_gram(nominal_phases(BB84_STATES), leakage)
        rates.append(single_photon_key_rate(BB84_STATES, SETUP, distance, GramPhaseErrorBound(gram, gram, BB84_STATES),
                                            jones_a=encoded_jones(nominal_phases(BB84_STATES)),
                                            jones_b=encoded_jones(nominal_phases(BB84_STATES))).key_rate_per_pulse)
    assert rates[0] < rates[1] < rates[2]
    # with leakage the fourth BB84 state helps (Sec. IV C): three states give a larger phase error
    three = _sdp(THREE_STATES, ("psi-",), models[2]).solve(_honest(THREE_STATES, distance, "psi-"))
    assert three.phase_error_upper > values[2]


def test_the_key_rate_adapter_keeps_every_outcome_result() -> None:
    gram = signal_gram(nominal_phases(BB84_STATES))
    bound = GramPhaseErrorBound(gram, gram, BB84_STATES)
    jones = encoded_jones(nominal_phases(BB84_STATES))
    ideal = single_photon_key_rate(BB84_STATES, SETUP, 30.0, ideal_phase_error(BB84_STATES), jones_a=jones, jones_b=jones)
    sdp = single_photon_key_rate(BB84_STATES, SETUP, 30.0, bound, jones_a=jones, jones_b=jones)
    assert set(bound.results) == set(OUTCOMES) and all(r.certified for r in bound.results.values())
    assert sdp.key_rate_per_pulse == pytest.approx(ideal.key_rate_per_pulse, rel=1e-3)


# -- App. E: test-state azimuth and mismatched-basis statistics -------------------------------------
def _exact(phases: np.ndarray, distance_km: float) -> DetectionBounds:
    jones = encoded_jones(phases)
    p = single_photon_probabilities(jones, jones, SETUP, distance_km)[..., [1]]
    return DetectionBounds(p, p, ("psi-",))


@pytest.mark.parametrize("states", [BB84_STATES, THREE_STATES])
def test_without_leakage_the_test_state_azimuth_does_not_matter(states) -> None:
    values = []
    for azimuth in (np.pi / 2, np.pi / 3, 0.8 * np.pi):
        phases = nominal_phases(states, test_azimuth=azimuth)
        gram = signal_gram(phases)
        values.append(GramPhaseErrorSDP(gram, gram, states, states, ("psi-",)).solve(_exact(phases, 20.0)).phase_error_upper)
    assert values == pytest.approx([values[0]] * 3, rel=1e-4, abs=2e-8)


def test_mismatched_statistics_never_hurt_with_a_preparation_flaw() -> None:
    phases = nominal_phases(BB84_STATES, delta=0.1)
    bounds = _exact(phases, 20.0)
    for leakage in (None, CoherentLeakage(1e-4)):
        gram = signal_gram(phases, leakage)
        full, matched = (GramPhaseErrorSDP(gram, gram, BB84_STATES, BB84_STATES, ("psi-",), statistics=kind)
                         .solve(bounds) for kind in ("all", "matched"))
        assert full.phase_error_upper <= matched.phase_error_upper + 2 * DEFAULT_GAP_TOLERANCE
        if leakage is None:                                  # with flawed qubits they strictly help (App. E 1)
            assert full.phase_error_upper < 0.95 * matched.phase_error_upper
