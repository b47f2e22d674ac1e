"""Powers of W_hh (d2l §8.7.2) and exercise 1 (bptt/path/powers.py) against torch.autograd's Jacobian, the
eigendecomposition and the closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bptt.path.powers import (
    INPUT_SCALE,
    alignment,
    alignment_bound,
    eigenvalues,
    jacobian_norms,
    power_norms,
    remedies,
    symmetric_matrix,
    trajectory,
)


def test_the_matrix_has_the_chosen_eigenvalues_and_symmetric_powers_have_norm_rho_k():
    lams = eigenvalues(1.1, -0.6, 8)
    M, V = symmetric_matrix(lams, seed=4)
    np.testing.assert_allclose(M, M.T, atol=1e-12)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(M)), np.sort(lams), atol=1e-12)
    np.testing.assert_allclose(M @ V[:, 0], 1.1 * V[:, 0], atol=1e-12)  # v_1 is the eigenvector of lambda_1
    assert np.abs(lams[2:]).max() < 0.6  # lambda_1, lambda_2 are the largest two in magnitude
    np.testing.assert_allclose(power_norms(M, 30), 1.1 ** np.arange(31), rtol=1e-9)  # (8.7.15)
    # (a) M^k has the eigenvalues lambda_i^k
    np.testing.assert_allclose(
        np.sort(np.linalg.eigvalsh(np.linalg.matrix_power(M, 5))), np.sort(lams**5), atol=1e-10
    )


def test_power_norms_of_a_non_symmetric_matrix_are_the_spectral_norms_of_its_powers():
    W = np.random.default_rng(0).standard_normal((6, 6)) / 3
    want = [
        torch.linalg.matrix_norm(torch.linalg.matrix_power(torch.tensor(W).T, k), 2).item() for k in range(9)
    ]
    np.testing.assert_allclose(power_norms(W, 8), want, rtol=1e-10)


@pytest.mark.parametrize("activation", ["tanh", "identity"])
def test_jacobian_norms_are_autograds(activation):
    lams = eigenvalues(1.3, 0.8, 6)
    W, _V = symmetric_matrix(lams, seed=2)
    K = 12
    h = trajectory(W, K, activation, seed=5)
    # autograd recomputes h_t from h_{t-k} with the inputs the trajectory drew (its documented seed + 1)
    rng = np.random.default_rng(5 + 1)
    rng.standard_normal(6)  # h_0
    xs = torch.tensor(INPUT_SCALE * rng.standard_normal((K, 6)))
    Wt = torch.tensor(W)
    got = jacobian_norms(W, K, activation, seed=5)
    for k in (0, 1, 4, K):

        def step_from(h_start, k=k):
            hh = h_start
            for t in range(K - k + 1, K + 1):  # steps t-k+1..t with t = K
                pre = Wt @ hh + xs[t - 1]
                hh = torch.tanh(pre) if activation == "tanh" else pre
            return hh

        J = torch.autograd.functional.jacobian(step_from, torch.tensor(h[K - k]))
        assert got[k] == pytest.approx(torch.linalg.matrix_norm(J, 2).item(), rel=1e-9), k
    if activation == "identity":
        np.testing.assert_allclose(got, power_norms(W, K), rtol=1e-9)  # linear: exactly the powers
    else:
        assert np.all(got[1:] < power_norms(W, K)[1:])  # tanh' < 1 shrinks every step


def test_exercise_1_power_iteration_aligns_with_v1_at_the_rate_of_the_bound():
    lams = eigenvalues(1.0, 0.8, 10)
    M, V = symmetric_matrix(lams, seed=1)
    xs = np.random.default_rng(3).standard_normal((50, 10))
    cos, tan = alignment(M, V[:, 0], xs, 40)
    # the closed form: with x = sum c_i v_i, M^k x = sum c_i lambda_i^k v_i
    c = xs @ V  # (50, n) coordinates in the eigenbasis
    ks = np.arange(41)
    coef = c[:, :, None] * lams[None, :, None] ** ks  # (50, n, 41)
    want = np.abs(coef[:, 0, :]) / np.linalg.norm(coef, axis=1)
    np.testing.assert_allclose(cos, want, rtol=1e-9)
    bound = alignment_bound(lams, 40)
    assert np.all(tan / tan[:, :1] <= bound[None, :] * (1 + 1e-9))
    assert np.median(cos[:, -1]) > 0.99 > np.median(cos[:, 0])


def test_exercise_2_remedies():
    W, _V = symmetric_matrix(eigenvalues(1.2, 0.5, 8))
    r = remedies(W, 20, 5)
    np.testing.assert_allclose(r["as_is"], 1.2 ** np.arange(21), rtol=1e-9)
    np.testing.assert_allclose(r["spectral"], np.ones(21), rtol=1e-9)  # symmetric: sigma_max = rho
    np.testing.assert_allclose(r["orthogonal"], np.ones(21), rtol=1e-9)
    assert np.all(np.isnan(r["truncated"][6:])) and np.allclose(r["truncated"][:6], r["as_is"][:6])
