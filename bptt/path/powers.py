"""Powers of W_hh (d2l §8.7.2, (8.7.15)) and the section's exercise 1, in numpy.

In the linear RNN of (8.7.9), h_t = W_hx x_t + W_hh h_{t-1}, the gradient reaching h_t from k steps later
is multiplied by (W_hh^T)^k: eigenvalues of magnitude below 1 vanish in it, above 1 explode. With
h_t = tanh(W_hh h_{t-1} + W_hx x_t) the Jacobian of one step is diag(1 - h_t^2) W_hh, and

    dh_t/dh_{t-k} = prod_{j=t-k+1..t} diag(1 - h_j^2) W_hh.

W_hh here is symmetric, M = V diag(lambda) V^T (the setting of exercise 1), so its eigenvalues are
exactly the sliders' values. tests/test_powers.py checks these against torch.autograd's Jacobian and
the eigendecomposition.
"""

from __future__ import annotations

import numpy as np

NUM_HIDDENS = 16  # small: every page run recomputes everything


def eigenvalues(lambda_1: float, lambda_2: float, n: int = NUM_HIDDENS) -> np.ndarray:
    """n eigenvalues: lambda_1, lambda_2, and n - 2 more spread evenly over (-|lambda_2|, |lambda_2|)
    at 0.9 of its magnitude, so that |lambda_1|, |lambda_2| are the two largest when |lambda_1| >=
    |lambda_2|; (n,)."""
    rest = 0.9 * abs(lambda_2) * np.linspace(-1.0, 1.0, n - 2)
    return np.concatenate([[lambda_1, lambda_2], rest])


def symmetric_matrix(lams: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(M, V): M = V diag(lams) V^T with V a random orthogonal matrix (columns v_i, fixed seed)."""
    n = len(lams)
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    V = q * np.sign(np.diag(r))  # (n, n): a uniformly random orthogonal matrix
    return (V * lams) @ V.T, V


def power_norms(W: np.ndarray, k_max: int) -> np.ndarray:
    """||(W^T)^k||_2 for k = 0..k_max (the factor of (8.7.15)); (k_max+1,)."""
    out = np.empty(k_max + 1)
    P = np.eye(len(W))
    for k in range(k_max + 1):
        out[k] = np.linalg.norm(P, 2)
        P = W.T @ P
    return out


INPUT_SCALE = 0.1  # x_t and h_0 ~ N(0, 0.1^2 I): tanh starts near its linear range, as at initialisation


def trajectory(W: np.ndarray, steps: int, activation: str = "tanh", seed: int = 0) -> np.ndarray:
    """h_0..h_steps of h_t = f(W h_{t-1} + x_t) (W_hx = I), with x_t and h_0 drawn N(0, INPUT_SCALE^2 I)
    from `default_rng(seed + 1)`, h_0 first; (steps+1, n)."""
    rng = np.random.default_rng(seed + 1)
    n = len(W)
    h = np.empty((steps + 1, n))
    h[0] = INPUT_SCALE * rng.standard_normal(n)
    x = INPUT_SCALE * rng.standard_normal((steps, n))
    for t in range(1, steps + 1):
        pre = W @ h[t - 1] + x[t - 1]
        h[t] = np.tanh(pre) if activation == "tanh" else pre
    return h


def jacobian_norms(W: np.ndarray, k_max: int, activation: str = "tanh", seed: int = 0) -> np.ndarray:
    """||dh_t/dh_{t-k}||_2 for k = 0..k_max at t = k_max, on `trajectory(W, k_max, activation, seed)`:
    the product of one-step Jacobians diag(f'(.)) W from step t back; (k_max+1,)."""
    h = trajectory(W, k_max, activation, seed)
    n = len(W)
    out = np.empty(k_max + 1)
    J = np.eye(n)  # dh_t/dh_t
    for k in range(k_max + 1):
        out[k] = np.linalg.norm(J, 2)
        j = k_max - k  # the step whose Jacobian dh_j/dh_{j-1} joins the product next
        if j >= 1:
            slope = 1.0 - h[j] ** 2 if activation == "tanh" else np.ones(n)
            J = J @ (slope[:, None] * W)
    return out


def alignment(M: np.ndarray, v1: np.ndarray, xs: np.ndarray, k_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Exercise 1 (b): for each random x (rows of xs, (m, n)), |cos(M^k x, v_1)| and tan of the angle
    between M^k x and v_1, for k = 0..k_max; each (m, k_max+1). The vector is renormalised after each
    multiplication (the power method), which changes neither."""
    m = len(xs)
    cos = np.empty((m, k_max + 1))
    y = xs / np.linalg.norm(xs, axis=1, keepdims=True)  # (m, n)
    for k in range(k_max + 1):
        cos[:, k] = np.abs(y @ v1)
        y = y @ M.T
        y /= np.linalg.norm(y, axis=1, keepdims=True)
    cos = np.clip(cos, 0.0, 1.0)
    with np.errstate(divide="ignore"):
        tan = np.sqrt(1.0 - cos**2) / cos
    return cos, tan


def alignment_bound(lams: np.ndarray, k_max: int) -> np.ndarray:
    """tan(angle after k steps) / tan(angle at k = 0) <= (|lambda_2| / |lambda_1|)^k for every x with a
    component along v_1, when |lambda_1| > |lambda_2| >= the rest (exercise 1 (b)); (k_max+1,)."""
    mags = np.sort(np.abs(lams))[::-1]
    return (mags[1] / mags[0]) ** np.arange(k_max + 1)


def remedies(W: np.ndarray, k_max: int, k_trunc: int) -> dict[str, np.ndarray]:
    """Exercise 2: ||(W^T)^k||_2 for W as it is, W rescaled to spectral norm 1 (spectral normalisation),
    its orthogonal polar factor (every singular value 1: orthogonal weights), and regular truncation at
    k_trunc (no gradient from further back: nan beyond it). Keys are stable ids."""
    U, s, Vt = np.linalg.svd(W)
    plain = power_norms(W, k_max)
    truncated = plain.copy()
    truncated[k_trunc + 1 :] = np.nan
    return {
        "as_is": plain,
        "spectral": power_norms(W / s[0], k_max),
        "orthogonal": power_norms(U @ Vt, k_max),
        "truncated": truncated,
    }
