"""A task where truncation is provably wrong: influence balancing (Tallec & Ollivier, UORO, ICLR 2018).

    s_t = A s_{t-1} + theta v,   A = 0.5 I + 0.5 (superdiagonal of ones),   n = 23 units
    v = +1 on the first 10 units, -1 on the other 13;   loss_t = 0.5 (s_t^1 - 1)^2 on the first unit

Unit j reaches unit 1 only after j - 1 steps, so a gradient truncated to K steps sees the positive
influences first. Two truncations must be told apart:
- sliding window (BPTT(K; 1) of Williams & Peng 1990): every loss sees exactly K steps back; the
  sensitivity ds^1/dtheta is +1, +10, +16.5, +0.57, -4.75 at K = 1, 10, 20, 40, 50 (true value -6), so
  the sign is wrong for K <= 40;
- chunked (regular truncation as the book's experiments make it, d2l §8.7.1.2): z is reset every K
  steps, so the loss at offset j of a chunk sees j + 1 steps back; averaged over a chunk the sensitivity
  stays positive, wrong-signed, for every K <= 109.

Randomized truncation (d2l §8.7.1.3) is unbiased, E[z^1] = -6, but not automatically convergent: its
variance grows as pi falls (sd of z^1 about 7.7, 11.5, 41, 119 at pi = 0.995, 0.99, 0.95, 0.9), and
online SGD with the task's learning rate diverges at pi = 0.95 and 0.9 while it converges at 0.99 and
0.995. A finite variance needs roughly pi > rho(A)^2 (Tallec & Ollivier 2017; rho(A) = 0.5 here), which
all four satisfy: finite is necessary, not sufficient, for a given step size.

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

    def chunked_sensitivity(self, K: int) -> float:
        """The mean sensitivity over a chunk of K steps when z is reset every K steps (chunked regular
        truncation): (1/K) sum_{j=1..K} truncated_sensitivity(j)."""
        return float(np.mean([self.truncated_sensitivity(j) for j in range(1, K + 1)]))

    def randomized_moments(self, pi: float, steps: int = 2000) -> tuple[float, float]:
        """Exact mean and standard deviation of z^1 under randomized truncation with a constant pi, by
        the moment recursions of z_t = v + xi_t A z_{t-1} (xi_t independent of z_{t-1}, E[xi] = 1,
        E[xi^2] = 1/pi), run `steps` steps from z_0 = 0:
            m_t = v + A m_{t-1},   M_t = v v' + v (A m_{t-1})' + (A m_{t-1}) v' + A M_{t-1} A' / pi."""
        A, v = self.A, self.v
        m, M = np.zeros(self.n), np.zeros((self.n, self.n))
        for _ in range(steps):
            Am = A @ m
            M = np.outer(v, v) + np.outer(v, Am) + np.outer(Am, v) + (A @ M @ A.T) / pi
            m = v + Am
        return float(m[0]), float(np.sqrt(max(M[0, 0] - m[0] ** 2, 0.0)))


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
