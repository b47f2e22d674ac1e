"""Exact first and second moments of the truncated-BPTT estimators (d2l §8.7.1), with no sampling.

Every estimator of `bptt.truncation` is linear in the path gradients. A path p = (t, s] runs from the loss
at step s back to the parameters' use at step t (lag k = s - t) in one batch row b; its gradient c_p is
h_{t-1} ⊗ delta_{s,t} for W_hh, e_{x_t} ⊗ delta_{s,t} for W_xh and delta_{s,t} for b_h (bptt/lab/lags.py), and
the estimator gives it the weight w_p = prod_{u=t+1}^{s} xi_u: the gates on its edges, xi_u sitting on the
edge from step u back into h_{u-1} (`bptt.truncation.bptt`). So

    ĝ = sum_p w_p c_p,   E ĝ - g = sum_p (E w_p - 1) c_p,   E‖ĝ - E ĝ‖² = sum_{p,q} ⟨c_p, c_q⟩ Cov(w_p, w_q).

Gates of different rows are independent, so only pairs in one row covary, and the inner products factor:
⟨c_p, c_q⟩ = ⟨delta_{s,t}, delta_{s',t'}⟩ (⟨h_{t-1}, h_{t'-1}⟩ + [x_t = x_{t'}] + 1), one Gram matrix of the
paths' adjoints per row times the Gram matrices of the inputs.

Randomized truncation (d2l §8.7.1.3, Tallec & Ollivier 2017), as `Randomized.gates` draws it: for each row,
xi_0 = 0 (the window's start), and at step u >= 1 with L_u steps since the last cut (L_1 = 1) the gate is
kept with probability pi_u = pi(u, L_u), as xi_u = 1/pi_u, else cut (xi_u = 0, L_{u+1} = 1). A step on one
path contributes pi_u · (1/pi_u) = 1 whatever L_u is, and moves L_u on by one; a step on both contributes
pi_u · pi_u^-2 = 1/pi_u. Hence E w_p = 1, E[w_p w_q] = 1 for paths whose edge sets do not meet, and for
overlapping (t, s] and (t', s'] with a = max(t, t') < e = min(s, s'):

    E[w_p w_q] = sum_L P(L_{m+1} = L) prod_{j=0}^{e-a-1} 1 / pi(a+1+j, L + a - m + j),   m = min(t, t'),

a sum over the Markov chain of the steps since the last cut at the first shared path's start. For constant
pi it is pi^-|p ∩ q|; for ARTBP's hazard it depends on where the pair sits. Regular truncation is
deterministic: w_p is 0 or 1, its variance is exactly 0 and its bias exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from ..truncation import Full, Randomized, Regular
from .lags import Window, flatten, full_adjoints, kept_gradient, lag_decomposition, param_grads, regular_keeps

ROW_CHUNK_BYTES = 64_000_000  # bound on the per-chunk (rows, paths, paths) Gram blocks


def paths(T: int) -> np.ndarray:
    """(N, 2) the paths with at least one edge, (t, s) with 0 <= t < s < T, ordered by lag k = s - t and
    then t: the order in which `path_adjoints` stacks them."""
    return np.array([(t, t + k) for k in range(1, T) for t in range(T - k)], dtype=np.int64).reshape(-1, 2)


def pi_table(schedule, T: int) -> np.ndarray:
    """(T, T + 1) pi(u, L) for steps u = 0..T-1 and lags L = 0..T since the last cut (L = 0 unused)."""
    lag = torch.arange(T + 1, dtype=torch.int64)
    table = np.ones((T, T + 1))
    if schedule.depends_on_lag:
        table[:] = schedule.pi(0, lag.clamp_min(1)).numpy()[None, :]
    else:
        table[:] = schedule.pi_steps(T).numpy()[:, None]
    return table


def lag_distribution(table: np.ndarray) -> np.ndarray:
    """(T, T + 1) P(L_u = L) for u = 1..T-1 (row 0 unused), the steps since the last cut before the gate
    at step u is drawn: L_1 = 1; kept -> L + 1, cut -> 1."""
    T = table.shape[0]
    dist = np.zeros((T, T + 1))
    if T > 1:
        dist[1, 1] = 1.0
    for u in range(1, T - 1):
        keep = dist[u, :-1] * table[u, :-1]
        dist[u + 1, 1:] = keep
        dist[u + 1, 1] += (dist[u] * (1.0 - table[u])).sum()
    return dist


def pair_second_moments(strategy, T: int) -> np.ndarray:
    """(N, N) E[w_p w_q] over the paths of `paths(T)` for one row, for a randomized strategy with the 1/pi
    weight (E w_p = 1 for every path). Built from M[m, a, e] (m <= a < e), the moment of two paths that
    start at m and a and share the edges (a, e]."""
    if not isinstance(strategy, Randomized) or not strategy.reweight:
        raise ValueError("pair moments are defined here for randomized truncation with the 1/pi weight")
    table = pi_table(strategy.schedule, T)
    dist = lag_distribution(table)
    # Along a kept segment d = L - u is constant; with Lam[d, u] = sum_{v=1}^{u} -log pi(v, v + d),
    # prod_{v=a+1}^{e} 1/pi(v, v + d) = exp(Lam[d, e] - Lam[d, a]).
    u = np.arange(T)
    offsets = np.arange(-(T - 1), 1)  # d = L - u; L at step m+1 is L0 in 1..m+1, so d in -m..0
    lag_at = u[None, :] + offsets[:, None]  # (D, T)
    valid = (lag_at >= 1) & (u[None, :] >= 1)
    nlog = np.where(valid, -np.log(table[u[None, :], np.clip(lag_at, 0, T)]), 0.0)
    lam = np.cumsum(nlog, axis=1)  # (D, T)
    M = np.ones((T, T, T))  # M[m, a, e]
    for m in range(T - 1):
        L0 = np.arange(1, m + 2)  # L at step m + 1
        p0 = dist[m + 1, L0]  # (L0,)
        d = L0 - (m + 1) + (T - 1)  # row of lam
        la = lam[d]  # (L0, T)
        ratio = np.exp(la[:, None, :] - la[:, :, None])  # (L0, a, e) = prod_{v=a+1}^{e}
        M[m] = np.einsum("l,lae->ae", p0, ratio)
    P = paths(T)
    t, s = P[:, 0], P[:, 1]
    lo = np.minimum(t[:, None], t[None, :])
    a = np.maximum(t[:, None], t[None, :])
    e = np.minimum(s[:, None], s[None, :])
    return np.where(e > a, M[lo, a, np.maximum(e, a)], 1.0)


@torch.no_grad()
def path_adjoints(win: Window) -> torch.Tensor:
    """(N, B, H) delta_{s,t} = dl_s/da_t for the paths of `paths(T)`: lag 1, then lag 2, ..."""
    T, B, H = win.shape
    Wt = win.P["W_hh"].T
    delta = win.E * win.D
    out = []
    for k in range(1, T):
        n = T - k
        delta = (delta[1:] @ Wt).mul_(win.D[:n])
        out.append(delta)
    return torch.cat(out) if out else torch.zeros(0, B, H, dtype=win.E.dtype)


@dataclass
class Exact:
    """One estimator's exact moments against the full-window gradient g, relative to ‖g‖."""

    bias: float  # ‖E ĝ - g‖ / ‖g‖
    variance: float  # E‖ĝ - E ĝ‖² / ‖g‖²
    mse: float  # E‖ĝ - g‖² / ‖g‖² = bias² + variance
    variance_by_param: dict[str, float]  # the variance's W_xh, W_hh, b_h parts, relative to ‖g‖²
    kept_mean: np.ndarray  # (T,) per lag: E of the share of g the estimator keeps, sum_{t,b} w p / ‖g‖²
    kept_sd: np.ndarray  # (T,) its exact standard deviation
    rare: float | None  # half the variance comes from path pairs a draw keeps with probability <= rare

    def row(self) -> dict:
        return {"exact_bias": self.bias, "exact_variance": self.variance, "exact_mse": self.mse}


# Bound on the Gram work B x N² x H (N = T(T-1)/2 paths): 4x the book's window (T=35, B=32, H=256: 2.9e9
# multiply-adds, under a second on one core) so that a shared host answers in seconds.
MAX_EXACT_WORK = 1.2e10


def exact_work(T: int, B: int, H: int) -> float:
    N = T * (T - 1) // 2
    return float(B) * N * N * H


def check_exact_budget(T: int, B: int, H: int) -> None:
    """Refuse a window whose exact moments would hold a shared host's cores for long."""
    if exact_work(T, B, H) > MAX_EXACT_WORK:
        raise ValueError(
            f"exact moments at num_steps={T}, batch={B}, num_hiddens={H} are "
            f"{exact_work(T, B, H) / MAX_EXACT_WORK:.1f} times the work this host allows"
        )


class Moments:
    """The exact moments of any estimator on one window. The per-row Gram matrices of the path gradients
    are summed over rows once, as (N, N) matrices per parameter (pairs in different rows do not covary),
    so each strategy then costs only its (N, N) pair moments."""

    @torch.no_grad()
    def __init__(self, win: Window, proj: np.ndarray | None = None) -> None:
        T, B, H = win.shape
        check_exact_budget(T, B, H)
        self.win, self.T = win, T
        self.full = param_grads(win, full_adjoints(win))
        self.g = flatten(self.full)
        self.g2 = float(self.g.square().sum())
        self.proj = lag_decomposition(win).proj if proj is None else proj
        self.paths = paths(T)

    @cached_property
    @torch.no_grad()
    def gram(self) -> dict[str, torch.Tensor]:
        """{parameter: (N, N) sum over rows of ⟨c_p, c_q⟩}, computed when a randomized strategy asks."""
        win, P = self.win, self.paths
        T, B, H = win.shape
        N = P.shape[0]
        t = torch.from_numpy(P[:, 0])
        Z = path_adjoints(win).permute(1, 0, 2)  # (B, N, H)
        Hb = win.Hprev.permute(1, 0, 2)  # (B, T, H) h_{t-1}
        HH = Hb @ Hb.mT  # (B, T, T) ⟨h_{t-1}, h_{t'-1}⟩
        names = [n for n in ("W_xh", "W_hh", "b_h") if n in self.full]
        gram = {n: torch.zeros(N, N, dtype=torch.float64) for n in names}
        rows = max(1, ROW_CHUNK_BYTES // max(1, N * N * 8 * 3))
        for i in range(0, B, rows):
            Zc = Z[i : i + rows]
            C = Zc @ Zc.mT  # (b, N, N) ⟨delta_p, delta_q⟩
            Xt = win.X[i : i + rows, t]  # (b, N) the input token at each path's start step
            gram["W_xh"] += (C * (Xt[:, :, None] == Xt[:, None, :])).sum(0)
            gram["W_hh"] += (C * HH[i : i + rows][:, t][:, :, t]).sum(0)
            if "b_h" in gram:
                gram["b_h"] += C.sum(0)
        return gram

    @torch.no_grad()
    def of(self, strategy) -> Exact:
        """The exact bias, variance, MSE and per-lag kept share of `strategy`, relative to ‖g‖."""
        T, win, g2, proj = self.T, self.win, self.g2, self.proj
        if isinstance(strategy, (Full, Regular)):
            k = T if isinstance(strategy, Full) else strategy.k
            keep = regular_keeps(k, T)
            kept_g = flatten(kept_gradient(win, torch.from_numpy(keep).to(win.E.dtype)))
            bias = float(torch.linalg.vector_norm(kept_g - self.g)) / g2**0.5
            kept = (proj * keep[:, :, None]).sum((1, 2)) / g2
            zero = {n: 0.0 for n in ("W_xh", "W_hh", "b_h") if n in self.full}
            return Exact(bias, 0.0, bias * bias, zero, kept, np.zeros(T), None)
        M = pair_second_moments(strategy, T)  # (N, N)
        K = torch.from_numpy(M - 1.0)  # Cov(w_p, w_q): E w_p = 1
        parts = {n: float((G * K).sum()) / g2 for n, G in self.gram.items()}
        total = sum(self.gram.values()) * K
        # Per lag: the kept share is sum_{t,b} w_{k,t,b} proj[k,t,b] / ‖g‖²; its variance sums Cov over pairs
        # of one lag and one row.
        P = self.paths
        lag = P[:, 1] - P[:, 0]
        sd = np.zeros(T)
        for k in range(1, T):
            idx = np.flatnonzero(lag == k)
            pk = proj[k, P[idx, 0]]  # (n, B)
            var_k = float(np.einsum("ib,ij,jb->", pk, M[np.ix_(idx, idx)] - 1.0, pk))
            sd[k] = max(var_k, 0.0) ** 0.5 / g2
        var = sum(parts.values())
        return Exact(0.0, var, var, parts, proj.sum((1, 2)) / g2, sd, rare_probability(M, total.numpy()))


def rare_probability(M: np.ndarray, contribution: np.ndarray) -> float | None:
    """The probability r such that pairs of paths a draw keeps together with probability <= r (1 / E[w_p w_q]
    for constant pi: both survive their shared edges) carry half of the variance; a sample sees such a
    pair about once in 1/r draws. None when the variance is not positive."""
    c = contribution.ravel()
    total = c.sum()
    if not total > 0:
        return None
    prob = 1.0 / M.ravel()
    order = np.argsort(prob, kind="stable")  # rarest first
    cum = np.cumsum(c[order])
    i = int(np.argmax(cum >= 0.5 * total))
    return float(prob[order][i])
