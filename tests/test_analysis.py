"""Influence balancing: truncation's wrong sign, against independent references."""

import math
from math import comb

import numpy as np
import pytest
import torch

from bptt.tasks.influence import InfluenceBalancing, train_theta
from bptt.truncation import ARTBPPi, ConstantPi

TASK = InfluenceBalancing()


def binomial_sensitivity(K: int) -> float:
    """(A^j v)^1 = 0.5^j sum_m C(j, m) v_{1+m}: A = 0.5 (I + N) with N the shift."""
    v = TASK.v
    return sum(0.5**j * sum(comb(j, m) * v[m] for m in range(min(j, TASK.n - 1) + 1)) for j in range(K))


@pytest.mark.parametrize(("K", "expected"), [(1, 1.0), (10, 10.0), (20, 16.5), (40, 0.57), (50, -4.75)])
def test_truncated_sensitivity_has_the_papers_values(K, expected):
    got = TASK.truncated_sensitivity(K)
    assert got == pytest.approx(binomial_sensitivity(K), abs=1e-9)
    assert got == pytest.approx(expected, abs=0.03)


def test_true_sensitivity_is_minus_six_by_autograd_on_a_long_unroll():
    theta = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    A, v = torch.tensor(TASK.A), torch.tensor(TASK.v)
    s = torch.ones(TASK.n, dtype=torch.float64)
    for _ in range(400):
        s = A @ s + theta * v
    (grad,) = torch.autograd.grad(s[0], theta)
    assert float(grad) == pytest.approx(-6.0, abs=1e-9)
    assert TASK.true_sensitivity() == pytest.approx(-6.0, abs=1e-12)
    assert all(TASK.truncated_sensitivity(K) > 0 for K in range(1, 41)), "wrong sign for every K <= 40"


def test_randomized_forward_sensitivity_is_unbiased():
    """z_t = v + xi_t A z_{t-1}: the mean of N draws of z_T^1 is the full sum, within a CLT bound."""
    rng = np.random.default_rng(0)
    A, v, T, pi, N = TASK.A, TASK.v, 30, 0.8, 20000
    z = np.zeros((N, TASK.n))
    for _ in range(T):
        xi = (rng.random(N) < pi) / pi
        z = v + xi[:, None] * (z @ A.T)
    full = TASK.truncated_sensitivity(T)
    mean, se = z[:, 0].mean(), z[:, 0].std() / math.sqrt(N)
    assert abs(mean - full) < 4.5 * se
    biased = np.zeros((N, TASK.n))  # cuts without the 1/pi weight
    for _ in range(T):
        biased = v + (rng.random(N) < pi)[:, None] * (biased @ A.T)
    assert abs(biased[:, 0].mean() - full) > 10 * biased[:, 0].std() / math.sqrt(N)


def test_full_bptt_converges_and_truncation_goes_the_wrong_way():
    target = -1 / 6  # s^1 = -6 theta = 1 at the fixed point
    full = train_theta(TASK, 4000, truncation="full")
    assert full[-1] == pytest.approx(target, abs=1e-3)
    wrong = train_theta(TASK, 4000, truncation="sliding", k=10)
    assert np.nanmax(wrong) > 10 or np.isnan(wrong[-1]), "K=10 drives theta up, away from -1/6"
    assert np.nanargmax(wrong) > 0 and wrong[100] > TASK.theta0
    right = train_theta(TASK, 4000, truncation="sliding", k=50)
    assert right[-1] == pytest.approx(target, abs=1e-2)  # K=50 has the right sign (-4.75)


@pytest.mark.parametrize("schedule", [ConstantPi(0.99), ARTBPPi(3.0, 200.0)], ids=["constant", "artbp"])
def test_randomized_truncation_converges_where_truncation_fails(schedule):
    thetas = train_theta(TASK, 6000, truncation="randomized", schedule=schedule, seed=1)
    assert np.isfinite(thetas).all()
    assert abs(np.mean(thetas[-1000:]) - (-1 / 6)) < 0.02


def test_too_much_variance_diverges_too():
    """pi = 0.9: unbiased but the weights 1/pi^k make the variance explode (Tallec & Ollivier 2017)."""
    thetas = train_theta(TASK, 6000, truncation="randomized", schedule=ConstantPi(0.9), seed=1)
    assert np.isnan(thetas[-1])


def chunked_by_simulation(K: int) -> float:
    """Independent reference: run the chunked recursion z_t = v + [t mod K != 0] A z_{t-1} over whole
    chunks and average z^1, with the closed form of each power from binomial_sensitivity."""
    per_offset = [binomial_sensitivity(j + 1) for j in range(K)]  # offset j sees j + 1 terms
    return float(np.mean(per_offset))


def test_chunked_truncation_stays_wrong_signed_up_to_k_109():
    for K in (1, 10, 40, 80, 109, 110, 150):
        assert TASK.chunked_sensitivity(K) == pytest.approx(chunked_by_simulation(K), abs=1e-9)
    assert all(TASK.chunked_sensitivity(K) > 0 for K in range(1, 110)), "wrong sign for every K <= 109"
    assert TASK.chunked_sensitivity(110) < 0
    # the sliding window turns right-signed much earlier (K = 41), the chunks not before K = 110
    assert TASK.truncated_sensitivity(41) < 0 < TASK.chunked_sensitivity(41)


def test_chunked_regular_training_goes_the_wrong_way_where_the_sliding_window_is_right():
    target = -1 / 6
    assert train_theta(TASK, 4000, truncation="sliding", k=50)[-1] == pytest.approx(target, abs=1e-2)
    chunked = train_theta(TASK, 4000, truncation="regular", k=50)
    assert np.isnan(chunked[-1]) or abs(chunked[-1] - target) > 1.0


@pytest.mark.parametrize(("pi", "sd"), [(0.995, 7.75), (0.99, 11.55), (0.95, 41.16), (0.9, 118.6)])
def test_randomized_moments_match_monte_carlo(pi, sd):
    mean, exact_sd = TASK.randomized_moments(pi)
    assert mean == pytest.approx(-6.0, abs=1e-6)
    assert exact_sd == pytest.approx(sd, abs=0.05)
    rng = np.random.default_rng(3)
    A, v, N = TASK.A, TASK.v, 20000
    z = np.zeros((N, TASK.n))
    for _ in range(400):
        z = v + ((rng.random(N) < pi) / pi)[:, None] * (z @ A.T)
    se = exact_sd / math.sqrt(N)
    assert abs(z[:, 0].mean() - mean) < 5 * se
    assert z[:, 0].std() == pytest.approx(exact_sd, rel=0.25)  # heavy tails: a loose check of the sd


@pytest.mark.parametrize(("pi", "diverges"), [(0.9, True), (0.95, True), (0.99, False), (0.995, False)])
def test_randomized_divergence_is_a_matter_of_variance_over_seeds(pi, diverges):
    for seed in range(3):
        thetas = train_theta(TASK, 4000, truncation="randomized", schedule=ConstantPi(pi), seed=seed)
        if diverges:
            assert np.isnan(thetas[-1]), f"pi={pi} seed={seed} should diverge"
        else:
            assert np.isfinite(thetas).all() and abs(thetas[-1] + 1 / 6) < 0.01
