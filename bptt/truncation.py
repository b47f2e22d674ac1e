"""The three truncation strategies of d2l §8.7.1 and the BPTT recursion that applies them.

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

    def __post_init__(self) -> None:
        _check_pi(self.p, "p")

    def pi(self, t: int, lag: torch.Tensor) -> torch.Tensor:
        return torch.full(lag.shape, self.p, dtype=torch.float64)


@dataclass(frozen=True)
class ARTBPPi:
    """ARTBP's hazard (Tallec & Ollivier 2017): cut with c_T = alpha / ((alpha - 1) T0 + T), T = steps
    since the last cut. It falls with the segment's length: power-law segments, polynomial path weight."""

    alpha: float = 3.0
    t0: float = 50.0

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

    def __post_init__(self) -> None:
        _check_pi(self.start, "start")
        _check_pi(self.end, "end")

    def pi(self, t: int, lag: torch.Tensor) -> torch.Tensor:
        frac = t / max(self.num_steps - 1, 1)
        return torch.full(lag.shape, self.start + (self.end - self.start) * frac, dtype=torch.float64)


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
        xi = torch.zeros(num_steps, batch_size, dtype=torch.float64)
        lag = torch.ones(batch_size, dtype=torch.int64)  # steps since the last cut (the boundary at t=0)
        u = torch.rand(num_steps, batch_size, generator=generator, dtype=torch.float64)
        for t in range(1, num_steps):
            p = self.schedule.pi(t, lag)  # (B,) pi_t for each row
            keep = u[t] < p
            xi[t] = torch.where(keep, 1.0 / p if self.reweight else torch.ones_like(p), 0.0)
            lag = torch.where(keep, lag + 1, 1)  # a cut starts a new segment
        return xi


Strategy = Full | Regular | Randomized


# ---------------------------------------------------------------------------------------------------
# The BPTT recursion (d2l §8.7.2), with the gate on every recurrent edge
# ---------------------------------------------------------------------------------------------------


@dataclass
class Backward:
    """What one forward/backward pass over a minibatch window produced."""

    loss: float  # mean cross-entropy over the B*T tokens
    grads: dict[str, torch.Tensor]  # {parameter name: gradient}
    dh_norms: torch.Tensor  # (T,) ||dL/dh_t|| (Frobenius over the batch), as the estimator sees it
    xi: torch.Tensor  # (T, B) the gates used; xi == 0 where a cut fell
    state: torch.Tensor  # (B, H) the last hidden state, for the sequential sampler to carry


@torch.no_grad()
def bptt(
    model, X: torch.Tensor, Y: torch.Tensor, xi: torch.Tensor, state: torch.Tensor | None = None
) -> Backward:
    """Loss and gradient of the book's loss for one window, by the explicit BPTT recursion.

    With g_t = dL/dh_t and a_t = x_t W_xh + h_{t-1} W_hh + b_h (so h_t = f(a_t)):
        g_t = dL/do_t W_hq^T + xi_{t+1} * (dL/da_{t+1} W_hh^T)       (d2l §8.7.2, with the gate)
        dL/da_t = g_t * f'(a_t)
        dL/dW_hh = sum_t h_{t-1}^T dL/da_t,  dL/dW_xh = sum_t x_t^T dL/da_t,  dL/db_h = sum_t dL/da_t
    The sums over t are single matmuls over the stacked window; only the recursion is a loop.
    """
    dev, dtype = model.device, model.W_hh.dtype
    X, Y = X.to(dev), Y.to(dev)
    B, T = X.shape
    H, V = model.num_hiddens, model.vocab_size
    h0 = model.begin_state(B) if state is None else state.to(dev, dtype)

    Hs = model.hidden_states(X, h0)  # (T, B, H)
    Hflat = Hs.view(T * B, H)
    logp = model.output(Hflat).log_softmax(dim=1)  # (T*B, V), time-major as d2l
    y = Y.T.reshape(-1)  # (T*B,)
    N = T * B
    loss = -logp.gather(1, y[:, None]).mean()

    dO = logp.exp_()  # softmax, reusing the buffer
    dO[torch.arange(N, device=dev), y] -= 1.0
    dO /= N  # dL/do_t for the mean over all tokens
    grads = {"W_hq": Hflat.T @ dO}  # (H, V)
    G = (dO @ model.W_hq.T).view(T, B, H)  # starts as dL/do_t W_hq^T; becomes g_t in the loop
    dA = torch.empty_like(G)  # (T, B, H) dL/da_t
    D = 1.0 - Hs * Hs if model.activation == "tanh" else None  # tanh'(a_t) = 1 - h_t^2
    gate = xi.to(dev, dtype).unsqueeze(-1)  # (T, B, 1)
    W_hhT = model.W_hh.T
    r = None  # the gradient arriving at h_t from step t+1 through the (gated) recurrent edge
    for t in range(T - 1, -1, -1):
        if r is not None:
            G[t] += r
        if D is not None:
            torch.mul(G[t], D[t], out=dA[t])
        else:
            dA[t].copy_(G[t])
        r = (dA[t] @ W_hhT).mul_(gate[t]) if t > 0 else None  # into h_{t-1}, times xi_t
    dA_flat = dA.view(T * B, H)
    Hprev = torch.cat([h0.unsqueeze(0), Hs[:-1]]).view(T * B, H)  # h_{t-1} for every t
    grads["W_hh"] = Hprev.T @ dA_flat
    grads["W_xh"] = torch.zeros(V, H, device=dev, dtype=dtype).index_add_(0, X.T.reshape(-1), dA_flat)
    if model.bias:
        grads["b_h"] = dA_flat.sum(0)
        grads["b_q"] = dO.sum(0)
    dh_norms = torch.linalg.vector_norm(G.view(T, B * H), dim=1)
    return Backward(float(loss), grads, dh_norms, xi, Hs[-1].clone())


def estimate_gradient(
    model,
    X: torch.Tensor,
    Y: torch.Tensor,
    strategy: Strategy,
    state: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """The gradient of the book's loss (mean cross-entropy over all B x T tokens) for one draw of the
    strategy's randomness, as {parameter name: tensor}. The model's own `.grad` is left untouched.

    X, Y: int64 (batch_size, num_steps) as the samplers yield; state: (batch_size, num_hiddens) or None.
    """
    B, T = X.shape
    xi = strategy.gates(B, T, generator)
    return bptt(model, X, Y, xi, state).grads


def make_strategy(cfg) -> Strategy:
    """The strategy a RunConfig names."""
    if cfg.truncation == "full":
        return Full()
    if cfg.truncation == "regular":
        return Regular(cfg.k)
    if cfg.schedule == "constant":
        return Randomized(ConstantPi(cfg.pi))
    if cfg.schedule == "artbp":
        return Randomized(ARTBPPi(cfg.alpha, cfg.t0))
    return Randomized(LinearPi(cfg.pi, cfg.pi_end, cfg.num_steps))
