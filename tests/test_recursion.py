"""The scalar recursion of d2l §8.7.1 (bptt/path/recursion.py) against torch.autograd on the unrolled graph,
and randomized truncation's draws against their expectation (a Monte Carlo mean with a CLT bound)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bptt.path.recursion import (
    ScalarRNN,
    default_inputs,
    gradient_path,
    randomized_draws,
    running_mean,
    truncated_gradient,
    unrolled_terms,
)


@pytest.fixture(autouse=True)
def float64():
    """The reference in double precision, for these tests only (a default set at import would hold for
    every test of the session)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def autograd_path(rnn: ScalarRNN) -> np.ndarray:
    """dh_t/dw for t = 1..T by autograd through the plainly unrolled graph (no recursion written out)."""
    w = torch.tensor(rnn.w, requires_grad=True)
    h = torch.tensor(rnn.h0)
    out = []
    for x in rnn.x:
        pre = w * h + float(x)
        h = torch.tanh(pre) if rnn.activation == "tanh" else pre
        (g,) = torch.autograd.grad(h, w, retain_graph=True)
        out.append(float(g))
    return np.array(out)


@pytest.mark.parametrize("activation", ["tanh", "identity"])
@pytest.mark.parametrize("w", [0.5, 0.95, 1.2, -1.1])
def test_the_recursion_and_its_unrolled_sum_are_autograds_gradient(activation, w):
    rnn = ScalarRNN(w, default_inputs(30, seed=3), h0=0.3, activation=activation)
    want = autograd_path(rnn)
    np.testing.assert_allclose(gradient_path(rnn), want, rtol=1e-10, atol=1e-12)  # (8.7.4)
    np.testing.assert_allclose(unrolled_terms(rnn).sum(), want[-1], rtol=1e-10, atol=1e-12)  # (8.7.7)


def test_each_term_is_the_gradient_through_one_step_only():
    """Term i of (8.7.7) is dh_T/dw with w's use at step i alone left free: autograd with w detached at
    every other step."""
    rnn = ScalarRNN(0.9, default_inputs(12, seed=1), h0=0.2)
    terms = unrolled_terms(rnn)
    for i in range(rnn.T):
        w = torch.tensor(rnn.w, requires_grad=True)
        h = torch.tensor(rnn.h0)
        for t, x in enumerate(rnn.x):
            h = torch.tanh((w if t == i else w.detach()) * h + float(x))
        (g,) = torch.autograd.grad(h, w)
        assert terms[i] == pytest.approx(float(g), rel=1e-10, abs=1e-14), i


def test_regular_truncation_keeps_the_last_tau_terms_and_tau_T_is_full():
    rnn = ScalarRNN(1.1, default_inputs(20), activation="identity")
    full = gradient_path(rnn)[-1]
    assert truncated_gradient(rnn, rnn.T) == pytest.approx(full, rel=1e-12)
    assert truncated_gradient(rnn, 100) == pytest.approx(full, rel=1e-12)
    # tau = 3 by autograd: the state detached 3 steps before the end
    w = torch.tensor(rnn.w, requires_grad=True)
    h = torch.tensor(rnn.h0)
    for t, x in enumerate(rnn.x):
        if t == rnn.T - 3:
            h = h.detach()
        h = w * h + float(x)
    (g,) = torch.autograd.grad(h, w)
    assert truncated_gradient(rnn, 3) == pytest.approx(float(g), rel=1e-10)
    with pytest.raises(ValueError):
        truncated_gradient(rnn, 0)


# c_t^2 / pi < 1 in both: a finite variance, so the sample standard error can be trusted
@pytest.mark.parametrize("w, pi", [(0.5, 0.5), (0.9, 0.9)])
def test_randomized_draws_are_unbiased_within_a_clt_bound(w, pi):
    rnn = ScalarRNN(w, default_inputs(25, seed=2), h0=0.1)
    full = gradient_path(rnn)[-1]
    draws = randomized_draws(rnn, pi, 40_000, seed=7)
    se = draws.std(ddof=1) / np.sqrt(len(draws))
    assert abs(draws.mean() - full) < 4 * se
    assert draws.std() > 0  # a real random variable, not the full gradient copied
    # the variant without the 1/pi weight is biased by much more than the bound
    b, c = rnn.factors()
    keep = np.random.default_rng(7).random((40_000, rnn.T)) < pi
    z = np.zeros(40_000)
    for t in range(rnn.T):
        z = b[t] + keep[:, t] * c[t] * z
    assert abs(z.mean() - full) > 10 * se


def test_pi_one_is_the_full_gradient_and_the_running_mean_is_the_cumulative_mean():
    rnn = ScalarRNN(0.7, default_inputs(10))
    np.testing.assert_allclose(randomized_draws(rnn, 1.0, 5), gradient_path(rnn)[-1], rtol=1e-12)
    d = np.array([1.0, 3.0, 2.0, 6.0])
    mean, se = running_mean(d)
    np.testing.assert_allclose(mean, [1, 2, 2, 3])
    assert np.isnan(se[0]) and se[-1] == pytest.approx(d.std(ddof=1) / 2)
    with pytest.raises(ValueError):
        randomized_draws(rnn, 0.0, 5)
