"""The truncated-BPTT estimators over many draws, against the exact full-window gradient (d2l §8.7.1).

For one minibatch and one set of weights the forward pass is shared by every draw; only the gates xi
differ. N gate matrices xi (N, T, B) go through one batched backward recursion (chunked to bound memory):

    dL/da_t = (dl_t/dh_t + xi_{t+1} * dL/da_{t+1} W_hh^T) * f'(a_t)

which is `bptt.truncation.bptt` draw by draw. The statistics are over the recurrent parameters' gradient
g = (dL/dW_xh, dL/dW_hh, dL/db_h), the only part truncation changes: relative bias ||E g^ - g|| / ||g||
with its Monte Carlo standard error sqrt(tr Cov / N) / ||g||, relative variance E||g^ - E g^||^2 / ||g||^2,
relative MSE E||g^ - g||^2 / ||g||^2, and cos(g^, g) per draw. Regular truncation is deterministic: its
variance is exactly 0 and its bias exact. Choosing k as the smallest regular k within eps of g is the
idea of Aicher et al. 2019's adaptive truncation.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..slices import drain
from ..truncation import Regular
from .lags import CHUNK_BYTES, Window, flatten, full_adjoints, param_grads

MAX_DRAWS = 2000


def draw_gates(strategy, n: int, B: int, T: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """n independent draws of the strategy's gates, (n, T, B). Rows are independent in every strategy, so
    one call for n*B rows gives n draws of B rows."""
    xi = strategy.gates(n * B, T, generator)  # (T, n*B)
    return xi.view(T, n, B).permute(1, 0, 2).contiguous()


@torch.no_grad()
def batched_adjoints(win: Window, xi: torch.Tensor) -> torch.Tensor:
    """dL/da_t for n gate draws at once: xi (n, T, B) -> (n, T, B, H)."""
    T, B, H = win.shape
    n = xi.shape[0]
    dtype = win.E.dtype
    xi = xi.to(dtype).unsqueeze(-1)  # (n, T, B, 1)
    dA = torch.empty(n, T, B, H, dtype=dtype)
    r = torch.zeros(n, B, H, dtype=dtype)
    Wt = win.P["W_hh"].T
    for t in range(T - 1, -1, -1):
        torch.mul(win.E[t] + r, win.D[t], out=dA[:, t])
        if t > 0:
            r = torch.matmul(dA[:, t], Wt).mul_(xi[:, t])  # into h_{t-1}, times xi_t
    return dA


@torch.no_grad()
def batched_grads(win: Window, xi: torch.Tensor) -> torch.Tensor:
    """The recurrent gradient vector (W_xh, W_hh, b_h flattened) for each draw: (n, P)."""
    T, B, H = win.shape
    n = xi.shape[0]
    dA = batched_adjoints(win, xi).view(n, T * B, H)
    V = win.P["W_xh"].shape[0]
    parts = [
        torch.zeros(n, V, H, dtype=dA.dtype).index_add_(1, win.X.T.reshape(-1), dA).view(n, -1),
        torch.matmul(win.Hprev.reshape(T * B, H).T, dA).view(n, -1),
    ]
    if win.bias:
        parts.append(dA.sum(1))
    return torch.cat(parts, 1)


def full_gradient(win: Window) -> torch.Tensor:
    """The exact full-window gradient g of the recurrent parameters, as one vector."""
    return flatten(param_grads(win, full_adjoints(win)))


@dataclass
class EstimatorStats:
    """Statistics of one strategy's estimator over n draws, relative to ||g||."""

    label: str  # the strategy's key (Strategy.key); a reader sees Strategy.title_of(label)
    n: int
    bias: float  # ||mean g^ - g|| / ||g||
    bias_se: float  # Monte Carlo standard error of that norm: sqrt(tr Cov / n) / ||g|| (0 if deterministic)
    variance: float  # E||g^ - E g^||^2 / ||g||^2 (unbiased sample estimate)
    mse: float  # E||g^ - g||^2 / ||g||^2
    mse_se: float  # the standard error of that sample mean: sd of ||g^ - g||^2 / ||g||^2 over sqrt(n)
    cos: np.ndarray  # (n,) cos(g^, g) per draw
    rel_error: np.ndarray  # (n,) ||g^ - g|| / ||g|| per draw

    def row(self) -> dict:
        return {
            "strategy": self.label,
            "draws": self.n,
            "bias": self.bias,
            "bias_se": self.bias_se,
            "variance": self.variance,
            "mse": self.mse,
            "mse_se": self.mse_se,
            "cos_mean": float(self.cos.mean()),
            "cos_min": float(self.cos.min()),
        }


def estimator_stats(
    win: Window,
    strategy,
    n: int,
    *,
    label: str = "",
    generator: torch.Generator | None = None,
    chunk: int | None = None,
    g: torch.Tensor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EstimatorStats:
    """Draw the gates n times (in chunks through the batched recursion) and compare with g. `strategy` is
    a gate maker (Strategy.gates(T) or an object of bptt/truncation/gates.py); `label` names the row, as
    the lab reports name it by the Strategy's key."""
    steps = stats_steps(win, strategy, n, label=label, generator=generator, chunk=chunk, g=g)
    return drain(steps, progress and (lambda p: progress(*p)))


@torch.no_grad()  # torch re-enters no_grad at each resumption of a generator it decorates
def stats_steps(
    win: Window,
    strategy,
    n: int,
    *,
    label: str = "",
    generator: torch.Generator | None = None,
    chunk: int | None = None,
    g: torch.Tensor | None = None,
) -> Generator[tuple[int, int], None, EstimatorStats]:
    """estimator_stats as resumable work: yields (draws done, n) after each chunk of draws and returns the
    EstimatorStats, so that a caller can spread the draws over time slices (the same numbers)."""
    if not 1 <= n <= MAX_DRAWS:
        raise ValueError(f"the number of draws must be between 1 and {MAX_DRAWS} (got {n})")
    T, B, H = win.shape
    chunk = chunk or max(1, CHUNK_BYTES // (T * B * H * win.E.element_size() * 2))
    g = full_gradient(win) if g is None else g
    gn = float(torch.linalg.vector_norm(g))
    total = torch.zeros_like(g)
    sq = 0.0
    cos, err = [], []
    done = 0
    while done < n:
        m = min(chunk, n - done)
        G = batched_grads(win, draw_gates(strategy, m, B, T, generator))
        total += G.sum(0)
        sq += float(G.square().sum())
        norms = torch.linalg.vector_norm(G, dim=1)
        cos.append((G @ g / (norms * gn).clamp_min(1e-300)).numpy())
        err.append((torch.linalg.vector_norm(G - g, dim=1) / gn).numpy())
        done += m
        yield done, n
    mean = total / n
    # E||g^ - mean||^2 = (sum ||g^||^2 - n ||mean||^2) / (n - 1): the trace of the sample covariance
    var = max(sq - n * float(mean.square().sum()), 0.0) / max(n - 1, 1)
    err_a = np.concatenate(err)
    return EstimatorStats(
        label,
        n,
        float(torch.linalg.vector_norm(mean - g)) / gn,
        (var / n) ** 0.5 / gn,
        var / gn**2,
        float(np.mean(err_a**2)),
        float(np.std(err_a**2, ddof=1) / np.sqrt(n)) if n > 1 else 0.0,
        np.concatenate(cos),
        err_a,
    )


@torch.no_grad()
def regular_sweep(win: Window, ks=None, g: torch.Tensor | None = None) -> pd.DataFrame:
    """Exact relative error ||g^_k - g|| / ||g|| of regular(k), k = 1..T (variance 0): its bias."""
    T, B, H = win.shape
    ks = list(range(1, T + 1)) if ks is None else list(ks)
    g = full_gradient(win) if g is None else g
    gn = float(torch.linalg.vector_norm(g))
    xi = torch.stack([Regular(k).gates(B, T) for k in ks])  # (K, T, B)
    rows = []
    for i in range(0, len(ks), 8):
        G = batched_grads(win, xi[i : i + 8])
        for k, gk in zip(ks[i : i + 8], G, strict=True):
            e = float(torch.linalg.vector_norm(gk - g)) / gn
            cos = float(gk @ g) / gn / float(torch.linalg.vector_norm(gk))
            rows.append({"k": k, "bias": e, "variance": 0.0, "mse": e * e, "cos": cos})
    return pd.DataFrame(rows)


def choose_k(sweep: pd.DataFrame, eps: float) -> int | None:
    """The smallest k whose regular truncation is within eps of the full gradient, or None."""
    ok = sweep[sweep["bias"] <= eps]
    return int(ok["k"].min()) if len(ok) else None
