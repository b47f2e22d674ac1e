"""A task where truncation is provably wrong: influence balancing (Tallec & Ollivier, UORO, ICLR 2018).

    s_t = A s_{t-1} + theta v,   A = 0.5 I + 0.5 (superdiagonal of ones),   n = 23 units
    v = +1 on the first 10 units, -1 on the other 13;   loss_t = 0.5 (s_t^1 - 1)^2 on the first unit

Unit j reaches unit 1 only after j - 1 steps, so a gradient truncated to K steps sees the positive
influences first: its sensitivity ds^1/dtheta is +1, +10, +16.5, +0.57, -4.75 at K = 1, 10, 20, 40, 50,
while the true value is -6. For K <= 40 truncated BPTT has the wrong sign and drives theta the wrong way;
an unbiased estimator (full BPTT, or the book's randomized truncation) converges.

The sensitivity is carried forward, exactly the book's recursion (d2l §8.7.1):
    z_t = df/dtheta + xi_t * df/ds_{t-1} z_{t-1} = v + xi_t A z_{t-1}
with xi_t = 1 (full), 0 every K steps (regular), or 0 w.p. 1 - pi and 1/pi otherwise (randomized).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InfluenceBalancing:
    """The task's constants, as in the UORO paper (and google-research's persistent_es)."""

    n: int = 23
    n_positive: int = 10
    theta0: float = 0.5
    lr: float = 1e-4

    @property
    def A(self) -> np.ndarray:  # (n, n)
        return 0.5 * np.eye(self.n) + 0.5 * np.eye(self.n, k=1)

    @property
    def v(self) -> np.ndarray:  # (n,)
        return np.r_[np.ones(self.n_positive), -np.ones(self.n - self.n_positive)]

    def true_sensitivity(self) -> float:
        """d s^1 / d theta at the fixed point: the first entry of (I - A)^{-1} v."""
        return float(np.linalg.solve(np.eye(self.n) - self.A, self.v)[0])

    def truncated_sensitivity(self, K: int) -> float:
        """The K-step truncated sensitivity sum_{j<K} (A^j v)^1: what BPTT truncated at K sees."""
        z, Ajv = 0.0, self.v.copy()
        for _ in range(K):
            z += Ajv[0]
            Ajv = self.A @ Ajv
        return z


def train_theta(
    task: InfluenceBalancing,
    steps: int,
    *,
    truncation: str = "full",
    k: int = 10,
    schedule=None,
    seed: int = 0,
    blowup: float = 1e3,
) -> np.ndarray:
    """Online SGD on theta with the forward sensitivity z_t gated by xi_t; theta after each step (NaN
    from the step where |theta| passed `blowup`: the run diverged).

    truncation: 'full' (xi = 1); 'sliding' (exactly the last k steps, BPTT(k; 1) of Williams & Peng 1990:
    the K-step truncated sensitivity); 'regular' (z reset every k steps: chunked, as the book's
    experiments); 'randomized' (xi = 0 w.p. 1 - pi_t, else 1/pi_t, with a bptt.truncation schedule:
    unbiased, at the price of variance)."""
    import torch  # only for the schedules' interface

    rng = np.random.default_rng(seed)
    A, v = task.A, task.v
    theta, s = task.theta0, np.ones(task.n)  # s_0 = 1
    z = np.zeros(task.n)  # d s_t / d theta as the estimator sees it
    window = sum(np.linalg.matrix_power(A, j) @ v for j in range(k))  # sliding: every loss sees k steps
    lag = 1  # steps since the last cut (randomized)
    thetas = np.full(steps, np.nan)
    for t in range(steps):
        s = A @ s + theta * v
        if truncation == "full":
            z = v + A @ z
        elif truncation == "sliding":
            z = window
        elif truncation == "regular":
            z = v + (A @ z if t % k else 0.0)
        elif truncation == "randomized":
            p = float(schedule.pi(t, torch.tensor([lag]))[0])
            keep = rng.random() < p
            z = v + (A @ z) / p if keep else v
            lag = lag + 1 if keep else 1
        else:
            raise ValueError(f"unknown truncation {truncation!r}")
        theta -= task.lr * (s[0] - 1.0) * z[0]  # d loss_t / d theta = (s^1 - 1) z^1
        if not abs(theta) < blowup:
            break
        thetas[t] = theta
    return thetas
