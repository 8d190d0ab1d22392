"""The coin methods' finite key against coherent attacks: the sampled sum of the per-round distances (§7).

docs/finite-key-proof.md §7: conditioned on earlier outcomes that Eve correlated with a later
pulse, the per-round distance Δ_k = <D|M'_det|D> can exceed the a-priori Δ; the sum Σ_k Δ_k is
bounded instead through flags that Alice could measure on a sample of her own registers.
These tests check each step: the flag effect is a valid effect that reproduces Δ_k for *any*
conditional measurement; the two-round attack that makes Δ_k ≫ Δ; the exact failure
probabilities of the bound under the adversary who learns every flag (which beats the old
Σ_k Δ_k ≤ N Δ about half of the time); the binomial thinning steps by exact sums.
"""

import math

import numpy as np
import pytest
from scipy.stats import binom

from qkdlab.analysis import AnalysisSource, Channel, FiniteKey, key_rate
from qkdlab.analysis.coin import gllp_pair, ltqc_families
from qkdlab.analysis.overlap_sdp import max_distance
from qkdlab.analysis.states import StateSet
from qkdlab.analysis.concentration import count_lower, extended_count_upper, sum_interval, thinned_interval
from qkdlab.analysis.statistics import Estimates, estimate

STATES = StateSet.flawed("bb84", 0.063)
DESIGN = np.array([0.35, 0.35, 0.2, 0.1])           # Alice's setting probabilities (deliberately unequal)


def _data(rounds: float = 1e10, sampling: float = 0.3, failure: float = 1e-12, design=DESIGN) -> Estimates:
    one = np.ones(1)
    return Estimates(x_low=np.zeros((1, 4, 2)), x_up=np.zeros((1, 4, 2)), key_detections=one, key_errors=one,
                     single_key_low=one, phase_scale=0.25, rounds=np.array([rounds]), inequalities=1,
                     failure_each=failure, sampling=sampling, design=np.asarray(design, float)[None, :, None],
                     single_photon=one)


def _pairs():
    families = ltqc_families(STATES)
    return [f.pair() for f in families] + [families[2].pair(0.2), families[0].pair(-0.3), gllp_pair(STATES)]


def _flag_effect(pair, design):
    """X / g on Alice's setting register, built here from L and p: X_jk = (L^H L)_jk / √(p_j p_k)."""
    metric = pair.difference.conj().T @ pair.difference
    x = metric / np.sqrt(np.outer(design, design))
    gain = _data(design=design).coin_gain(pair.difference)[0]
    return x / gain, gain


@pytest.mark.parametrize("index", range(len(_pairs())))
def test_the_flag_effect_reproduces_the_per_round_distance_for_any_conditional_measurement(index):
    """Step S1: E = X/g is an effect (0 ⪯ E ⪯ 1, the largest eigenvalue 1), and for every emitted state and
    every M' ⪰ 0 — unnormalised, as conditioning on the past makes it — g <Ψ|E ⊗ M'|Ψ> = <D|M'|D> with
    Ψ = Σ_j √p_j |j> ψ_j and D = Σ_a |a> Σ_j L_aj ψ_j, both built here with Kronecker products."""
    pair = _pairs()[index]
    effect, gain = _flag_effect(pair, DESIGN)
    eigenvalues = np.linalg.eigvalsh(effect)
    assert eigenvalues.min() >= -1e-12 and eigenvalues.max() == pytest.approx(1.0, rel=1e-9)
    assert eigenvalues.max() <= 1.0
    rng = np.random.default_rng(index)
    dim = 5
    for trial in range(20):
        psi = rng.normal(size=(4, dim)) + 1j * rng.normal(size=(4, dim))              # any states: an identity
        a = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
        conditional = a @ a.conj().T * 10.0 ** rng.uniform(-2, 4)          # no M' ⪯ 1
        big_psi = sum(math.sqrt(p) * np.kron(np.eye(4)[j], psi[j]) for j, p in enumerate(DESIGN))
        d = sum(np.kron(pair.difference[:, j], psi[j]) for j in range(4))
        per_round = np.vdot(d, np.kron(np.eye(len(pair.difference)), conditional) @ d).real
        flagged = np.vdot(big_psi, np.kron(effect, conditional) @ big_psi).real
        assert gain * flagged == pytest.approx(per_round, rel=1e-9, abs=1e-15)
    # a priori (M' = 1) the flag's probability is ‖D‖²/g: at the SDP's own extremal allowed states it reaches
    # the certified Δ, never more
    bound = max_distance(pair, 1e-3)
    psi = bound.witness.phi + bound.witness.delta
    big_psi = sum(math.sqrt(p) * np.kron(np.eye(4)[j], psi[j]) for j, p in enumerate(DESIGN))
    prior = gain * np.vdot(big_psi, np.kron(effect, np.eye(psi.shape[1])) @ big_psi).real
    assert 0.99 * bound.distance <= prior <= bound.distance * (1 + 1e-9)


def test_conditioning_on_an_earlier_outcome_raises_the_per_round_distance_far_above_the_a_priori_one():
    """The gap of §7, built explicitly: Eve projects pulse 2 onto the side-channel direction and flags round 1's
    outcome when she finds it there. Given the flag, round 2's Δ_2 is O(1), far above Δ = O(ε); averaged
    over the flag it is below Δ (no-signalling), so only the fluctuation is at stake."""
    epsilon = 1e-4
    pair = ltqc_families(STATES)[2].pair()
    dim = 3
    chi = np.zeros(dim, complex)
    chi[2] = 1.0
    phases = np.exp(1j * np.array([0.0, np.pi, np.pi / 2, 3 * np.pi / 2]))
    psi = np.array([math.sqrt(1 - epsilon) * np.pad(k, (0, 1)) + math.sqrt(epsilon) * ph * chi
                    for k, ph in zip(STATES.kets, phases)])
    detect = np.eye(dim)                                             # Bob detects everything he is given
    side = np.outer(chi, chi.conj())
    prior = np.array([p * np.vdot(psi[j], side @ psi[j]).real for j, p in enumerate(DESIGN)]).sum()
    given_flag = side @ detect @ side / prior                         # M' after conditioning on the flag
    given_none = (np.eye(dim) - side) @ detect @ (np.eye(dim) - side) / (1 - prior)
    d = np.array([sum(pair.difference[a, j] * psi[j] for j in range(4)) for a in range(len(pair.difference))])

    def per_round(m):
        return float(np.einsum("ai,ij,aj->", d.conj(), m, d).real)

    certified = max_distance(pair, epsilon).distance
    assert per_round(np.eye(dim)) <= certified * (1 + 1e-9)
    assert per_round(given_flag) > 1000 * certified                  # Δ_2 given the flag: O(1)
    average = prior * per_round(given_flag) + (1 - prior) * per_round(given_none)
    assert average <= certified * (1 + 1e-9)


@pytest.mark.parametrize("rounds,distance,gain,sampling", [(1e7, 4e-6, 4.1, 0.3), (1e8, 4e-6, 4.1, 0.5),
                                                           (1e10, 4e-6, 7.9, 0.07), (3e4, 1e-3, 2.0, 0.15)])
def test_the_sum_bound_holds_against_the_adversary_who_learns_every_flag_and_the_old_claim_does_not(
        rounds, distance, gain, sampling):
    """The worst case of step S2 for the sum: Eve's earlier outcomes reveal each round's flag, so
    Σ_k P(flag ∧ det | past) = the number of flags, Binomial(N, s Δ / g), and Σ_k Δ_k = (g/s) × that.
    Its exact upper tail beyond the reported bound is ≤ ε; beyond the old N Δ it is about 1/2."""
    failure = 1e-9
    data = _data(rounds, sampling, failure)
    p = sampling * distance / gain
    reported = float(data.coin_distance(distance, gain)[0]) * rounds           # bound on Σ_k Δ_k
    flags_allowed = reported * sampling / gain
    assert binom.sf(math.floor(flags_allowed), int(rounds), p) <= failure
    assert binom.sf(math.floor(rounds * p), int(rounds), p) > 0.3              # the old Σ Δ_k ≤ N Δ fails often
    assert reported > rounds * distance
    # and it is not absurdly loose: within a few standard deviations of the mean
    assert reported < rounds * distance + 15 * gain / sampling * math.sqrt(rounds * p * math.log(1 / failure)) + \
        40 * gain / sampling * math.log(1 / failure)


def test_the_sum_bound_is_monotone_in_the_distance_and_the_gain_and_reduces_to_delta_at_zero_gain():
    """coin_q's certified lower bounds use coin_distance at lower bounds of Δ and g: it must be non-decreasing."""
    data = _data(1e9, 0.2, 1e-12)
    distances = np.geomspace(1e-9, 1e-3, 25)
    gains = np.geomspace(1e-3, 50, 25)
    grid = data.coin_distance(distances[:, None, None], gains[None, :, None])[..., 0]
    assert np.all(np.diff(grid, axis=0) >= 0) and np.all(np.diff(grid, axis=1) >= 0)
    assert np.all(grid >= distances[:, None])
    assert data.coin_distance(1e-5, 0.0)[0] == 1e-5
    assert np.isinf(data.coin_distance(1e-5, np.inf)[0])


def test_the_gain_is_infinite_when_the_coin_needs_a_setting_alice_never_sends():
    data = _data(design=[0.5, 0.5, 0.0, 0.0])
    assert np.isinf(data.coin_gain(ltqc_families(STATES)[0].pair().difference)[0])


@pytest.mark.parametrize("sampling", [0.03, 0.3, 0.7])
def test_thinning_intervals_fail_at_most_epsilon_by_exact_binomial_sums(sampling):
    """Step S5: given a count n, its unsampled part is Binomial(n, 1 − s); each end fails with probability ≤ ε."""
    eps = 1e-4
    for n in (0, 3, 40, 700, 20000):
        kept = np.arange(n + 1)
        pmf = binom.pmf(kept, n, 1 - sampling)
        low, up = thinned_interval(np.array(float(n)), sampling, eps)
        assert pmf[kept < low].sum() <= eps and pmf[kept > up].sum() <= eps
        assert up - low < 12 * math.sqrt(n * sampling * (1 - sampling) * math.log(1 / eps)) + 12 * math.log(1 / eps)


@pytest.mark.parametrize("sampling", [0.03, 0.3, 0.7])
def test_extending_a_bound_from_the_unsampled_part_to_the_whole_fails_at_most_epsilon(sampling):
    """Step S5 for the phase errors (an upper bound) and the single-photon key count (a lower bound): for a
    total m whose unsampled part is Binomial(m, 1 − s), Pr[m > extended(kept)] and Pr[m < lower(kept)] ≤ ε."""
    eps = 1e-4
    for m in (1, 10, 300, 5000, 100000):
        kept = np.arange(m + 1, dtype=float)
        pmf = binom.pmf(kept, m, 1 - sampling)
        assert pmf[m > extended_count_upper(kept, sampling, eps)].sum() <= eps
        assert pmf[m < sum_interval(kept, np.full_like(kept, np.inf), eps)[0] / (1 - sampling)].sum() <= eps
        assert extended_count_upper(np.array(float(m)), 0.0, eps) == m


@pytest.mark.parametrize("kind", ["chernoff", "kato", "azuma"])
@pytest.mark.parametrize("p", [0.001, 0.05, 0.5])
def test_count_lower_bounds_fail_at_most_epsilon_for_independent_rounds(kind, p):
    rounds, eps = 3000, 1e-4
    counts = np.arange(rounds + 1)
    pmf = binom.pmf(counts, rounds, p)
    low = count_lower(np.array(rounds * p), np.array(float(rounds)), eps, kind)
    assert pmf[counts < low].sum() <= eps
    assert low > 0 or rounds * p < 50


def test_decoy_single_photon_key_count_is_a_count_bound_below_its_expectation():
    """With decoys the key length needs the number of single-photon key detections, not the sum of their
    conditional probabilities: the finite-key value lies below the asymptotic expectation by the deviation."""
    channel = Channel(source="weak-coherent", intensities=(0.5, 0.1, 0.0), intensity_probabilities=(0.8, 0.1, 0.1))
    emissions, counts = channel.expected_counts(STATES, [30.0], 1e11)
    labels = STATES.labels
    asymptotic = estimate(counts, emissions, labels, (0.5, 0.5), "weak-coherent", (0.5, 0.1, 0.0))
    finite = estimate(counts, emissions, labels, (0.5, 0.5), "weak-coherent", (0.5, 0.1, 0.0), failure=1e-20)
    sampled = estimate(counts, emissions, labels, (0.5, 0.5), "weak-coherent", (0.5, 0.1, 0.0), failure=1e-20,
                       sampling=0.3)
    assert sampled.single_key_low[0] < finite.single_key_low[0] < asymptotic.single_key_low[0]
    assert finite.single_key_low[0] > 0.99 * asymptotic.single_key_low[0]
    assert sampled.inequalities > finite.inequalities


def test_a_finite_key_coin_rate_names_its_sampling_and_is_positive_where_the_paper_has_key():
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    for method in ("ltqc", "gllp"):
        result = key_rate(source, Channel(), method, FiniteKey(1e10), distance_km=50.0)
        assert result.key_rate_per_pulse > 0
        assert result.parameters["coin_sampling"] in (0.5, 0.3, 0.15, 0.07, 0.03)
        assert any("§7" in a and "sampling" in a for a in result.assumptions)
        assert "sampling probabilities" in result.finite.concentration
    lt = key_rate(AnalysisSource.flawed("bb84", 0.063, 0.0), Channel(), "lt", FiniteKey(1e10), distance_km=50.0)
    assert "coin_sampling" not in lt.parameters


def test_the_finite_key_coin_rate_grows_with_the_block_and_approaches_the_asymptote():
    """The sampled sum costs key at small N (the fluctuation the old per-round Δ left out) and little at large N."""
    source = AnalysisSource.flawed("bb84", 0.063, 1e-6)
    asymptotic = key_rate(source, Channel(), "ltqc", distance_km=100.0)
    rates = {}
    for n in (1e9, 1e11, 1e13):
        rates[n] = key_rate(source, Channel(), "ltqc", FiniteKey(n), distance_km=100.0).key_rate_per_pulse
    assert rates[1e9] < rates[1e11] < rates[1e13] < asymptotic.key_rate_per_pulse
    assert rates[1e13] > 0.99 * asymptotic.key_rate_per_pulse


def test_an_intensity_that_is_never_sent_does_not_make_the_gain_infinite():
    pair = ltqc_families(STATES)[0].pair()
    two = Estimates(**{**_data().__dict__, "design": np.stack([DESIGN, 0 * DESIGN], axis=-1)[None],
                       "single_photon": np.array([0.3, 0.2])})
    assert two.coin_gain(pair.difference)[0] == pytest.approx(_data().coin_gain(pair.difference)[0])
