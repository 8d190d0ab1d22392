"""Detection model of the LCQ relay against closed forms and brute-force simulations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import i0
from scipy.stats import poisson

from qkdlab.analysis.mdi.detection import (BB84_STATES, OUTCOMES, MdiSetup, bit_error_mask, coherent_gains,
                                           jones_from_bloch, photon_number_yields, polarization,
                                           single_photon_probabilities)

SETUP = MdiSetup(fiber_loss_db_per_km=0.2, detector_efficiency=0.5, dark_count_probability=1e-6)
BB84 = polarization(BB84_STATES)
Z, X = slice(0, 2), slice(2, 4)
ERRORS = bit_error_mask(BB84_STATES, BB84_STATES)


def random_jones(rng: np.random.Generator, n: int) -> np.ndarray:
    j = rng.normal(size=(n, 2)) + 1j * rng.normal(size=(n, 2))
    return j / np.linalg.norm(j, axis=1, keepdims=True)


def xu_closed_forms(t_a: float, t_b: float, mu: float, nu: float, pd: float) -> dict[str, float]:
    """Xu, Curty, Qi, Lo, NJP 15, 113007 (2013), App. B (Ma & Razavi 2012), no misalignment (e_d = 0).

    Q_rect, Q_diag: gains per pulse of {Ψ+, Ψ−} averaged over the bit pairs; EQ: their error parts.
    """
    mp = t_a * mu + t_b * nu
    x, y = np.sqrt(t_a * mu * t_b * nu) / 2, (1 - pd) * np.exp(-mp / 4)
    q_c = (2 * (1 - pd) ** 2 * np.exp(-mp / 2) * (1 - (1 - pd) * np.exp(-t_a * mu / 2))
           * (1 - (1 - pd) * np.exp(-t_b * nu / 2)))
    q_e = 2 * pd * (1 - pd) ** 2 * np.exp(-mp / 2) * (i0(2 * x) - (1 - pd) * np.exp(-mp / 2))
    q_diag = 2 * y**2 * (1 + 2 * y**2 - 4 * y * i0(x) + i0(2 * x))
    return {"Q_rect": q_c + q_e, "EQ_rect": q_e, "Q_diag": q_diag, "EQ_diag": q_diag / 2 - y**2 * (i0(2 * x) - 1)}


@pytest.mark.parametrize(("distance_a", "distance_b", "mu", "nu"), [(0.0, None, 0.6, 0.6), (25.0, None, 0.1, 0.6),
                                                                  (40.0, 10.0, 0.05, 0.3), (120.0, 80.0, 0.6, 0.1)])
def test_coherent_gains_match_ma_razavi_closed_forms(distance_a, distance_b, mu, nu):
    t_a, t_b = SETUP.transmittances(distance_a, distance_b)
    q = coherent_gains(BB84, BB84, [mu], [nu], SETUP, distance_a, distance_b)[..., 0, 0]
    ref = xu_closed_forms(t_a, t_b, mu, nu, SETUP.dark_count_probability)
    assert q[Z, Z].sum(axis=2).mean() == pytest.approx(ref["Q_rect"], rel=1e-9)
    assert (q * ERRORS)[Z, Z].sum() / 4 == pytest.approx(ref["EQ_rect"], rel=1e-6)
    assert q[X, X].sum(axis=2).mean() == pytest.approx(ref["Q_diag"], rel=1e-9)
    assert (q * ERRORS)[X, X].sum() / 4 == pytest.approx(ref["EQ_diag"], rel=1e-9)


def test_single_photon_yields_match_closed_forms():
    """Y_11 and e_11^X Y_11 of Xu et al. (2013) App. B, and the Z-basis error yield derived by hand."""
    pd = SETUP.dark_count_probability
    for distance_a, distance_b in [(0.0, 0.0), (30.0, 30.0), (70.0, 20.0)]:
        t_a, t_b = SETUP.transmittances(distance_a, distance_b)
        p = single_photon_probabilities(BB84, BB84, SETUP, distance_a, distance_b)
        y11 = (1 - pd) ** 2 * (t_a * t_b / 2 + (2 * t_a + 2 * t_b - 3 * t_a * t_b) * pd
                               + 4 * (1 - t_a) * (1 - t_b) * pd**2)
        assert p[Z, Z].sum(axis=2).mean() == pytest.approx(y11, rel=1e-10)
        assert p[X, X].sum(axis=2).mean() == pytest.approx(y11, rel=1e-10)
        assert (p * ERRORS)[X, X].sum() / 4 == pytest.approx(y11 / 2 - (1 - pd) ** 2 * t_a * t_b / 4, rel=1e-8)
        # |H>|H>: no HOM coincidence, Ψ− only with one dark count (or two with nothing arriving)
        hh = (1 - pd) ** 2 * pd * ((1 - (1 - t_a) * (1 - t_b)) + 2 * pd * (1 - t_a) * (1 - t_b))
        assert p[0, 0, OUTCOMES.index("psi-")] == pytest.approx(hh, rel=1e-8)


def test_ideal_bell_state_measurement_without_dark_counts():
    setup = MdiSetup(detector_efficiency=1.0, dark_count_probability=0.0)
    t_a, t_b = setup.transmittances(10.0, 30.0)
    p = single_photon_probabilities(BB84, BB84, setup, 10.0, 30.0)
    assert p[0, 1] == pytest.approx([t_a * t_b / 2, t_a * t_b / 2])      # H V: Ψ+ and Ψ− each half
    assert p[0, 0] == pytest.approx([0.0, 0.0], abs=1e-15)              # H H: HOM bunching, no coincidence
    assert p[2, 2] == pytest.approx([t_a * t_b / 2, 0.0], abs=1e-15)     # D D: Ψ+ only
    assert p[2, 3] == pytest.approx([0.0, t_a * t_b / 2], abs=1e-15)     # D A: Ψ− only


def _brute_force_coherent(jones_a, jones_b, mu, nu, t_a, t_b, pd, nodes=64):
    """Relative phase averaged by the trapezoidal rule; detectors independent given the phase."""
    out = np.zeros((len(jones_a), len(jones_b), 2))
    patterns = {"psi+": [(0, 1), (2, 3)], "psi-": [(0, 3), (1, 2)]}
    for phi in 2 * np.pi * np.arange(nodes) / nodes:
        for a, ja in enumerate(jones_a):
            for b, jb in enumerate(jones_b):
                alpha = np.sqrt(mu * t_a / 2) * ja
                beta = np.sqrt(nu * t_b / 2) * np.exp(1j * phi) * jb
                fields = np.array([alpha[0] + beta[0], alpha[1] + beta[1], alpha[0] - beta[0], alpha[1] - beta[1]])
                no_click = (1 - pd) * np.exp(-np.abs(fields) ** 2)
                for r, outcome in enumerate(OUTCOMES):
                    for pattern in patterns[outcome]:
                        out[a, b, r] += np.prod([1 - no_click[k] if k in pattern else no_click[k] for k in range(4)])
    return out / nodes


def test_coherent_gains_match_phase_quadrature_for_flawed_states():
    rng = np.random.default_rng(7)
    ja, jb = random_jones(rng, 3), random_jones(rng, 2)
    setup = MdiSetup(dark_count_probability=1e-3)
    t_a, t_b = setup.transmittances(5.0, 15.0)
    q = coherent_gains(ja, jb, [0.4], [0.7], setup, 5.0, 15.0)[..., 0, 0]
    assert q == pytest.approx(_brute_force_coherent(ja, jb, 0.4, 0.7, t_a, t_b, 1e-3), rel=1e-10)


def _brute_force_single_photons(ja, jb, t_a, t_b, pd):
    """Two-photon amplitudes over modes 0-3 (detectors), 4 (Alice's loss), 5 (Bob's loss), then dark counts."""
    amp_a = np.array([*(np.sqrt(t_a / 2) * np.array([ja[0], ja[1], ja[0], ja[1]])), np.sqrt(1 - t_a), 0.0])
    amp_b = np.array([*(np.sqrt(t_b / 2) * np.array([jb[0], jb[1], -jb[0], -jb[1]])), 0.0, np.sqrt(1 - t_b)])
    patterns = {"psi+": [{0, 1}, {2, 3}], "psi-": [{0, 3}, {1, 2}]}
    probs = np.zeros(2)
    for k, l in itertools.combinations_with_replacement(range(6), 2):
        if k == l:
            weight = 2 * abs(amp_a[k] * amp_b[k]) ** 2                  # (c_k†)²|0> = √2 |2>
        else:
            weight = abs(amp_a[k] * amp_b[l] + amp_a[l] * amp_b[k]) ** 2
        lit = {m for m in (k, l) if m < 4}
        for clicks in itertools.product([False, True], repeat=4):
            on = {m for m, c in enumerate(clicks) if c}
            if not lit <= on:
                continue
            p_dark = np.prod([pd if m in on else 1 - pd for m in range(4) if m not in lit])
            for r, outcome in enumerate(OUTCOMES):
                probs[r] += weight * p_dark * (on in patterns[outcome])
    return probs


def test_single_photons_match_two_photon_brute_force():
    rng = np.random.default_rng(3)
    ja, jb = random_jones(rng, 3), random_jones(rng, 3)
    setup = MdiSetup(dark_count_probability=1e-2)
    t_a, t_b = setup.transmittances(3.0, 8.0)
    p = single_photon_probabilities(ja, jb, setup, 3.0, 8.0)
    for a, b in itertools.product(range(3), range(3)):
        assert p[a, b] == pytest.approx(_brute_force_single_photons(ja[a], jb[b], t_a, t_b, 1e-2), rel=1e-10)


@pytest.mark.parametrize(("distance_a", "distance_b"), [(0.0, None), (50.0, 20.0)])
def test_photon_number_yields_average_to_coherent_gains(distance_a, distance_b):
    rng = np.random.default_rng(11)
    ja, jb = random_jones(rng, 2), random_jones(rng, 3)
    mus, nus = np.array([0.05, 0.6]), np.array([0.1, 0.3])
    yields = photon_number_yields(ja, jb, SETUP, distance_a, distance_b, cutoff=25)
    n = np.arange(26)
    expected = np.einsum("abrmn,km,ln->abrkl", yields, poisson.pmf(n[None], mus[:, None]),
                         poisson.pmf(n[None], nus[:, None]))
    gains = coherent_gains(ja, jb, mus, nus, SETUP, distance_a, distance_b)
    assert gains == pytest.approx(expected, rel=1e-9, abs=1e-18)
    assert np.all((yields >= 0) & (yields <= 1))


def test_alice_bob_symmetry():
    rng = np.random.default_rng(5)
    ja, jb = random_jones(rng, 3), random_jones(rng, 2)
    forward = coherent_gains(ja, jb, [0.1, 0.6], [0.05, 0.3], SETUP, 30.0, 70.0)
    backward = coherent_gains(jb, ja, [0.05, 0.3], [0.1, 0.6], SETUP, 70.0, 30.0)
    assert forward == pytest.approx(np.transpose(backward, (1, 0, 2, 4, 3)), rel=1e-9)


def test_success_probability_falls_with_distance():
    distances = [0.0, 20.0, 50.0, 100.0, 150.0]
    q = np.array([coherent_gains(BB84, BB84, [0.6], [0.6], SETUP, d)[0, 1, :, 0, 0] for d in distances])
    assert np.all(np.diff(q, axis=0) < 0)


def test_polarization_labels_and_bloch_vectors_agree():
    bloch = [(0, 0, 1), (0, 0, -1), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0)]
    ideal = polarization(("0Z", "1Z", "0X", "1X", "0Y", "1Y"))
    overlap = np.abs(np.sum(jones_from_bloch(bloch).conj() * ideal, axis=1))
    assert overlap == pytest.approx(np.ones(6))
    with pytest.raises(ValueError):
        polarization(("0Q",))


def test_bit_error_mask_follows_lcq():
    mask = bit_error_mask(BB84_STATES, BB84_STATES)
    psi_plus, psi_minus = OUTCOMES.index("psi+"), OUTCOMES.index("psi-")
    assert mask[0, 0, psi_minus] and not mask[0, 1, psi_minus]       # Z: anticorrelated for Ψ−
    assert mask[0, 0, psi_plus] and not mask[0, 1, psi_plus]         # Z: anticorrelated for Ψ+
    assert mask[2, 2, psi_minus] and not mask[2, 3, psi_minus]       # X: anticorrelated for Ψ−
    assert mask[2, 3, psi_plus] and not mask[2, 2, psi_plus]         # X: correlated for Ψ+
    assert not mask[0, 2].any()                                       # mismatched bases never count
