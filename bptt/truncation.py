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
import threading
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


class _Workspace(threading.local):
    """Per-thread scratch buffers of the recursion, reused while the window's shape stays the same
    (one (T+1, B, H) block for h_0..h_T and three (T, B, H) ones): allocating ~1 MB buffers at every
    minibatch costs page faults comparable to the recursion's own small matmuls. Nothing returned by
    `bptt` points into them."""

    key: tuple | None = None
    bufs: tuple[torch.Tensor, ...] = ()

    def get(self, T: int, B: int, H: int, dev: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        key = (T, B, H, dev, dtype)
        if self.key != key:
            self.bufs = (
                torch.empty(T + 1, B, H, device=dev, dtype=dtype),  # h_0 .. h_T
                torch.empty(T, B, H, device=dev, dtype=dtype),  # g_t
                torch.empty(T, B, H, device=dev, dtype=dtype),  # dL/da_t
                torch.empty(T, B, H, device=dev, dtype=dtype),  # f'(a_t)
            )
            self.key = key
        return self.bufs


_workspace = _Workspace()


@torch.no_grad()
def bptt(
    model, X: torch.Tensor, Y: torch.Tensor, xi: torch.Tensor, state: torch.Tensor | None = None
) -> Backward:
    """Loss and gradient of the book's loss for one window, by the explicit BPTT recursion.

    With g_t = dL/dh_t and a_t = x_t W_xh + h_{t-1} W_hh + b_h (so h_t = f(a_t)):
        g_t = dL/do_t W_hq^T + xi_{t+1} * (dL/da_{t+1} W_hh^T)       (d2l §8.7.2, with the gate)
        dL/da_t = g_t * f'(a_t)
        dL/dW_hh = sum_t h_{t-1}^T dL/da_t,  dL/dW_xh = sum_t x_t^T dL/da_t,  dL/db_h = sum_t dL/da_t
    The sums over t are single matmuls over the stacked window; only the recursion is a loop, one
    fused multiply-add (addmm) per step. A step whose gates are all 1 (full, regular between cuts)
    skips the gate multiply; one whose gates are all 0 (a regular cut) skips the matmul.
    """
    dev, dtype = model.device, model.W_hh.dtype
    X, Y = X.to(dev), Y.to(dev)
    B, T = X.shape
    H, V = model.num_hiddens, model.vocab_size
    Hall, G, dA, D = _workspace.get(T, B, H, dev, dtype)
    if state is None:
        Hall[0].zero_()
    else:
        Hall[0].copy_(state)
    Hs = model.hidden_states(X, Hall[0], out=Hall[1:])  # (T, B, H), h_1..h_T
    Hflat = Hs.view(T * B, H)
    logp = model.output(Hflat).log_softmax(dim=1)  # (T*B, V), time-major as d2l
    y = Y.T.reshape(-1)  # (T*B,)
    N = T * B
    loss = -logp.gather(1, y[:, None]).mean()

    dO = logp.exp_()  # softmax, reusing the buffer
    dO[torch.arange(N, device=dev), y] -= 1.0
    dO /= N  # dL/do_t for the mean over all tokens
    grads = {"W_hq": Hflat.T @ dO}  # (H, V)
    torch.mm(dO, model.W_hq.T, out=G.view(N, H))  # starts as dL/do_t W_hq^T; becomes g_t in the loop
    tanh = model.activation == "tanh"
    if tanh:
        torch.addcmul(torch.ones((), device=dev, dtype=dtype), Hs, Hs, value=-1.0, out=D)  # 1 - h_t^2
    gate = xi.to(dev, dtype)  # (T, B)
    # Per step: 1 if every row's gate is 1, 0 if every row's is 0, else -1 (rows differ), on the host.
    kind = torch.where((gate == 1).all(1), 1, torch.where((gate == 0).all(1), 0, -1)).tolist()
    W_hhT = model.W_hh.T.contiguous()  # read 2T times per window: a row-major copy is a little faster
    Gs, dAs, Ds, gates = G.unbind(0), dA.unbind(0), D.unbind(0), gate.unsqueeze(-1).unbind(0)
    for t in range(T - 1, -1, -1):  # G[t] already holds the gradient arriving from step t+1
        if tanh:
            torch.mul(Gs[t], Ds[t], out=dAs[t])
        else:
            dAs[t].copy_(Gs[t])
        if t == 0 or kind[t] == 0:
            continue
        if kind[t] == 1:
            Gs[t - 1].addmm_(dAs[t], W_hhT)  # + dL/da_t W_hh^T into h_{t-1}
        else:
            Gs[t - 1].addmm_(dAs[t] * gates[t], W_hhT)  # gated row by row: xi_t * dL/da_t W_hh^T
    dA_flat = dA.view(N, H)
    grads["W_hh"] = Hall[:-1].reshape(N, H).T @ dA_flat  # h_{t-1} for every t, no copy
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
