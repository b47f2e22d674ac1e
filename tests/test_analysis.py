"""Influence balancing: truncation's wrong sign, against independent references."""

import math
from math import comb

import numpy as np
import pytest
import torch

from bptt.analysis import InfluenceBalancing, train_theta
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
