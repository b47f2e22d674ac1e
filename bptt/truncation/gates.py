"""The gates of the three truncation strategies of d2l §8.7.1, and the pi_t schedules of the randomized one.

Every strategy is a *gate* on the recurrent edge: `xi[t, b]` multiplies the gradient flowing from step t
back into h_{t-1} for row b, and nothing else (the output layer still reads h_{t-1} ungated; Tallec &
Ollivier 2017). Forward values are never touched.

    full        xi_t = 1
    regular(k)  xi_t = 0 every k steps from the window's start, else 1 (truncated BPTT, Jaeger 2002)
    randomized  xi_t = 0 with probability 1 - pi_t, 1/pi_t otherwise, so E[xi_t] = 1 (d2l eq. 8.7.x)

The window's own start is a deterministic cut (`xi[0] = 0`): the state handed in is a constant, as the
detach between minibatches of the sequential sampler makes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

# ---------------------------------------------------------------------------------------------------
# pi_t schedules: P(xi_t != 0), as a function of the step t in the window and the lag since the last cut
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConstantPi:
    """pi_t = p at every step: geometric segment lengths, path weight p^-k grows exponentially."""

    p: float

    depends_on_lag = False  # pi_t is the same whatever the lag: the draw is one vectorized comparison
    depends_on_position = False  # nor the step t in the window

    def __post_init__(self) -> None:
        _check_pi(self.p, "p")

    def pi(self, t: int, lag: torch.Tensor) -> torch.Tensor:
        return torch.full(lag.shape, self.p, dtype=torch.float64)

    def pi_steps(self, num_steps: int) -> torch.Tensor:
        """(num_steps,) pi_t for t = 0..num_steps-1: the same values as pi(t, lag) for any lag."""
        return torch.full((num_steps,), self.p, dtype=torch.float64)


@dataclass(frozen=True)
class ARTBPPi:
    """ARTBP's hazard (Tallec & Ollivier 2017): cut with c_T = alpha / ((alpha - 1) T0 + T), T = steps
    since the last cut. It falls with the segment's length: power-law segments, polynomial path weight."""

    alpha: float = 3.0
    t0: float = 50.0

    depends_on_lag = True  # the hazard depends on the lag: the draw runs the lag recursion over t
    depends_on_position = False

    def __post_init__(self) -> None:
        if not (self.alpha > 1 and self.t0 > 0 and self.alpha < (self.alpha - 1) * self.t0 + 1):
            raise ValueError(
                f"ARTBP needs alpha > 1 and alpha < (alpha - 1) T0 + 1 so that pi > 0 "
                f"(got alpha={self.alpha}, T0={self.t0})"
            )

    def pi(self, t: int, lag: torch.Tensor) -> torch.Tensor:
        return 1.0 - self.alpha / ((self.alpha - 1.0) * self.t0 + lag.double())


@dataclass(frozen=True)
class LinearPi:
    """pi_t moves linearly from `start` at t = 0 to `end` at t = num_steps - 1 (a schedule varying in t)."""

    start: float
    end: float
    num_steps: int

    depends_on_lag = False
    depends_on_position = True  # pi_t is read at the step t of the window, whatever the last cut

    def __post_init__(self) -> None:
        _check_pi(self.start, "start")
        _check_pi(self.end, "end")

    def pi(self, t: int, lag: torch.Tensor) -> torch.Tensor:
        return torch.full(lag.shape, self._pi_t(t), dtype=torch.float64)

    def _pi_t(self, t: int) -> float:
        frac = t / max(self.num_steps - 1, 1)
        return self.start + (self.end - self.start) * frac

    def pi_steps(self, num_steps: int) -> torch.Tensor:
        """(num_steps,) pi_t for t = 0..num_steps-1: the same values as pi(t, lag) for any lag."""
        return torch.tensor([self._pi_t(t) for t in range(num_steps)], dtype=torch.float64)


def _check_pi(p: float, name: str) -> None:
    if not (isinstance(p, (int, float)) and math.isfinite(p) and 0 < p <= 1):
        raise ValueError(
            f"pi ({name}) must be in (0, 1]: 0 would cut always and leave 1/pi undefined (got {p})"
        )


def survival(schedule, max_lag: int) -> dict[str, np.ndarray]:
    """For a segment starting right after a cut at t = 0: survival S(k) = P(no cut in the next k steps),
    the path weight 1/S(k) that the estimator gives a dependency across lag k (a "Russian roulette"
    weight), and the distribution of segment lengths P(L = k) = S(k-1) (1 - pi_k), k = 1..max_lag."""
    lags = np.arange(1, max_lag + 1)
    pis = np.array([float(schedule.pi(int(k), torch.tensor([int(k)]))[0]) for k in lags])
    S = np.cumprod(pis)  # S[k-1] = prod_{j<=k} pi_j
    S_prev = np.concatenate([[1.0], S[:-1]])
    return {"lag": lags, "pi": pis, "survival": S, "weight": 1.0 / S, "segment_pmf": S_prev * (1 - pis)}


# ---------------------------------------------------------------------------------------------------
# Strategies: each yields the gate matrix xi (T, B)
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Full:
    """Full BPTT within the window: xi_t = 1 (d2l §8.7.1.1)."""

    name = "full"

    def gates(
        self, batch_size: int, num_steps: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        xi = torch.ones(num_steps, batch_size, dtype=torch.float64)
        xi[0] = 0.0  # the window boundary
        return xi


@dataclass(frozen=True)
class Regular:
    """Regular truncation (d2l §8.7.1.2): cut every k steps counted from the window's start, so chunks
    are [0, k), [k, 2k), ... as the book's experiments make them. k >= num_steps is exactly Full."""

    k: int

    name = "regular"

    def __post_init__(self) -> None:
        if not (isinstance(self.k, int) and self.k >= 1):
            raise ValueError(f"k must be a whole number >= 1 (got {self.k!r})")

    def gates(
        self, batch_size: int, num_steps: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        xi = torch.ones(num_steps, batch_size, dtype=torch.float64)
        xi[:: self.k] = 0.0  # steps 0, k, 2k, ...: the gradient stops at the start of each chunk
        return xi


@dataclass(frozen=True)
class Randomized:
    """Randomized truncation (d2l §8.7.1.3; Tallec & Ollivier 2017): for each step and each row
    independently, xi_t = 0 with probability 1 - pi_t, else 1/pi_t. Unbiased: E[xi_t] = 1.

    `reweight=False` cuts without the 1/pi_t compensation: random segment lengths alone, which is biased
    towards short dependencies (kept for comparison, and so that the unbiasedness test can fail)."""

    schedule: ConstantPi | ARTBPPi | LinearPi
    reweight: bool = True

    name = "randomized"

    def gates(
        self, batch_size: int, num_steps: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        u = torch.rand(num_steps, batch_size, generator=generator, dtype=torch.float64)
        if num_steps < 2:
            return torch.zeros(num_steps, batch_size, dtype=torch.float64)
        if not self.schedule.depends_on_lag:
            # pi_t depends on t only: all steps at once, from the same uniforms u[t] as the recursion.
            p = self.schedule.pi_steps(num_steps)[1:, None]  # (T-1, 1)
            xi = torch.zeros(num_steps, batch_size, dtype=torch.float64)
            xi[1:] = torch.where(u[1:] < p, 1.0 / p if self.reweight else 1.0, 0.0)
            return xi
        # pi depends on the lag since the last cut (ARTBP): the recursion over t runs on (B,) numpy
        # vectors, with pi read from a table over the lags 1..T-1 (the only ones that can occur).
        lags = torch.arange(1, num_steps, dtype=torch.int64)
        table = np.concatenate([[np.nan], self.schedule.pi(0, lags).numpy()])  # table[lag] = pi
        un = u.numpy()
        xi = np.zeros((num_steps, batch_size))
        lag = np.ones(batch_size, dtype=np.int64)  # steps since the last cut (the boundary at t=0)
        for t in range(1, num_steps):
            p = table[lag]  # (B,) pi_t for each row
            keep = un[t] < p
            xi[t] = np.where(keep, 1.0 / p if self.reweight else 1.0, 0.0)
            lag = np.where(keep, lag + 1, 1)  # a cut starts a new segment
        return torch.from_numpy(xi)


Gates = Full | Regular | Randomized  # what a Strategy builds: an object with .gates(B, T, generator)
