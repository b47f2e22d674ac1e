"""The recursion of d2l §8.7.1 on a scalar RNN, small enough to read every term (numpy only).

The model is the section's h_t = f(x_t, h_{t-1}, w_h) with one hidden unit and one weight:

    h_t = f(w h_{t-1} + x_t),   f = tanh or the identity (§8.7.2's linear case)

so that, with a_t = dh_t/dw, b_t = df/dw and c_t = df/dh_{t-1} (the substitution (8.7.6)),

    a_t = b_t + c_t a_{t-1}                                     (8.7.4)
        = b_t + sum_{i<t} (prod_{j=i+1..t} c_j) b_i             (8.7.7)

Every function returns plain numpy arrays; tests/test_recursion.py checks them against torch.autograd on
the unrolled graph and against Monte Carlo means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVATIONS = ("tanh", "identity")


@dataclass(frozen=True)
class ScalarRNN:
    """One hidden unit: h_t = f(w h_{t-1} + x_t), t = 1..T, from h_0."""

    w: float  # the recurrent weight w_h
    x: np.ndarray  # (T,) the inputs x_1..x_T
    h0: float = 0.0  # the initial state
    activation: str = "tanh"  # "tanh" or "identity"

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS} (got {self.activation!r})")

    @property
    def T(self) -> int:
        return len(self.x)

    def states(self) -> np.ndarray:
        """h_0..h_T, (T+1,)."""
        h = np.empty(self.T + 1)
        h[0] = self.h0
        for t in range(1, self.T + 1):
            pre = self.w * h[t - 1] + self.x[t - 1]
            h[t] = np.tanh(pre) if self.activation == "tanh" else pre
        return h

    def factors(self) -> tuple[np.ndarray, np.ndarray]:
        """(b, c), each (T,), index t-1 for step t: b_t = df/dw = f'(.) h_{t-1}, c_t = df/dh_{t-1} = f'(.) w
        (the substitution (8.7.6))."""
        h = self.states()
        slope = 1.0 - h[1:] ** 2 if self.activation == "tanh" else np.ones(self.T)  # f'(w h_{t-1} + x_t)
        return slope * h[:-1], slope * self.w


def default_inputs(T: int = 50, seed: int = 0, scale: float = 0.5) -> np.ndarray:
    """Inputs x_1..x_T drawn N(0, scale^2) with a fixed seed: the same sequence on every page run."""
    return scale * np.random.default_rng(seed).standard_normal(T)


def gradient_path(rnn: ScalarRNN) -> np.ndarray:
    """a_t = dh_t/dw for t = 1..T by the recursion (8.7.4), a_0 = 0; (T,)."""
    b, c = rnn.factors()
    a = np.empty(rnn.T)
    prev = 0.0
    for t in range(rnn.T):
        prev = a[t] = b[t] + c[t] * prev
    return a


def unrolled_terms(rnn: ScalarRNN) -> np.ndarray:
    """The terms of (8.7.7) for dh_T/dw: term i (i = 1..T, index i-1) is (prod_{j=i+1..T} c_j) b_i, the
    contribution of step i, T - i steps back. They sum to gradient_path(rnn)[-1]; (T,)."""
    b, c = rnn.factors()
    # prod_{j=i+1..T} c_j for i = 1..T: a reversed cumulative product, 1 for i = T
    tail = np.append(np.cumprod(c[::-1])[::-1][1:], 1.0)
    return tail * b


def truncated_gradient(rnn: ScalarRNN, tau: int) -> float:
    """dh_T/dw with the sum (8.7.7) stopped after tau terms: only steps i > T - tau contribute (regular
    truncation, d2l §8.7.1.2). tau >= T is the full gradient."""
    if tau < 1:
        raise ValueError(f"tau must be at least 1 (got {tau})")
    terms = unrolled_terms(rnn)
    return float(terms[max(rnn.T - tau, 0) :].sum())


def randomized_draws(rnn: ScalarRNN, pi: float, n: int, seed: int = 0) -> np.ndarray:
    """n draws of z_T, randomized truncation (8.7.8): z_t = b_t + xi_t c_t z_{t-1}, z_0 = 0, with
    P(xi_t = 0) = 1 - pi and P(xi_t = 1/pi) = pi, independent; E[z_T] = dh_T/dw. (n,)."""
    if not 0 < pi <= 1:
        raise ValueError(f"pi must be in (0, 1] (got {pi})")
    b, c = rnn.factors()
    keep = np.random.default_rng(seed).random((n, rnn.T)) < pi  # (n, T)
    xi = keep / pi
    z = np.zeros(n)
    for t in range(rnn.T):
        z = b[t] + xi[:, t] * c[t] * z
    return z


def running_mean(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean of the first N draws, its standard error) for N = 1..len(draws); the error of N = 1 is nan."""
    n = np.arange(1, len(draws) + 1)
    mean = np.cumsum(draws) / n
    sq = np.cumsum(draws**2) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.maximum(sq - mean**2, 0.0) * n / (n - 1)  # the unbiased sample variance
        se = np.sqrt(var / n)
    return mean, se
