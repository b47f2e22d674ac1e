"""Where the full-window gradient comes from, lag by lag, and how far a gradient travels (d2l §8.7.2).

With a_t = x_t W_xh + h_{t-1} W_hh + b_h, h_t = f(a_t) and the loss L = sum_s l_s (the book's mean
cross-entropy over the B x T tokens of one window), the full-window gradient of a recurrent parameter is
a sum over dependency paths from the loss at step s back to the parameter's use at step t = s - k:

    dL/dW_hh = sum_{k=0}^{T-1} g_k,   g_k = sum_t h_{t-1}^T delta_{t+k, t}
    delta_{s,s} = (dl_s/do_s W_hq^T) * f'(a_s),  delta_{s,t-1} = (delta_{s,t} W_hh^T) * f'(a_{t-1})

(likewise W_xh with x_t, b_h with 1). g_k is the lag-k "itemized gradient" of RNNbow (Cashman et al.
2019). One stack Delta_k[t] = delta_{t+k,t} over all source steps is carried back at once, so each lag is
one batched matmul: O(T^2) (B, H) x (H, H) products in all. The product of the per-step Jacobians
diag(f'(a_t)) W_hh^T is the book's power (W_hh^T)^k with the nonlinearity in between (Pascanu et al. 2013).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

RECURRENT = ("W_xh", "W_hh", "b_h")  # the parameters whose gradient truncation changes
LN10 = float(np.log(10.0))
CHUNK_BYTES = 200_000_000  # bound on the working memory of a batch of draws


@dataclass
class Window:
    """One minibatch window's forward pass, in the dtype of the analysis (float64 by default)."""

    X: torch.Tensor  # (B, T) int64
    Y: torch.Tensor  # (B, T)
    P: dict[str, torch.Tensor]  # the model's parameters, copied in the analysis dtype
    Hprev: torch.Tensor  # (T, B, H) h_{t-1} for every t
    D: torch.Tensor  # (T, B, H) f'(a_t)
    E: torch.Tensor  # (T, B, H) dl_t/dh_t = dL/do_t W_hq^T, the local (lag-0) term
    loss: float
    bias: bool

    @property
    def shape(self) -> tuple[int, int, int]:
        T, B, H = self.D.shape
        return T, B, H


@torch.no_grad()
def forward_window(model, X, Y, state=None, dtype=torch.float64) -> Window:
    """The forward pass of any CharRNN (initialisation or a snapshot) on X, Y (B, T), in `dtype`."""
    P = {n: p.detach().to("cpu", dtype) for n, p in model.named_parameters()}
    X, Y = X.cpu(), Y.cpu()
    B, T = X.shape
    H = model.num_hiddens
    h = torch.zeros(B, H, dtype=dtype) if state is None else state.detach().to("cpu", dtype)
    Hs = P["W_xh"][X.T.reshape(-1)].view(T, B, H).clone()
    if model.bias:
        Hs += P["b_h"]
    prev = []
    for t in range(T):
        prev.append(h)
        a = Hs[t].addmm_(h, P["W_hh"])
        h = a.tanh_() if model.activation == "tanh" else a
    Hs_flat = Hs.view(T * B, H)
    logits = Hs_flat @ P["W_hq"] + (P["b_q"] if model.bias else 0.0)
    logp = logits.log_softmax(1)
    y = Y.T.reshape(-1)
    loss = float(-logp.gather(1, y[:, None]).mean())
    dO = logp.exp()
    dO[torch.arange(T * B), y] -= 1.0
    dO /= T * B
    D = 1.0 - Hs * Hs if model.activation == "tanh" else torch.ones_like(Hs)
    E = (dO @ P["W_hq"].T).view(T, B, H)
    return Window(X, Y, P, torch.stack(prev), D, E, loss, model.bias)


def param_grads(win: Window, dA: torch.Tensor, steps: slice = slice(None)) -> dict[str, torch.Tensor]:
    """dL/dW_xh, dL/dW_hh, dL/db_h from adjoints dA = dL/da_t for the steps `steps` (n_steps, B, H)."""
    T, B, H = win.shape
    Hp = win.Hprev[steps].reshape(-1, H)
    flat = dA.reshape(-1, H)
    V = win.P["W_xh"].shape[0]
    idx = win.X.T[steps].reshape(-1)
    out = {
        "W_xh": torch.zeros(V, H, dtype=dA.dtype).index_add_(0, idx, flat),
        "W_hh": Hp.T @ flat,
    }
    if win.bias:
        out["b_h"] = flat.sum(0)
    return out


def flatten(grads: dict[str, torch.Tensor]) -> torch.Tensor:
    """The recurrent parameters' gradient as one vector (W_xh, W_hh, b_h in that order)."""
    return torch.cat([grads[n].reshape(-1) for n in RECURRENT if n in grads])


def full_adjoints(win: Window) -> torch.Tensor:
    """dL/da_t of the full-window gradient (T, B, H), by the ordinary BPTT recursion (d2l §8.7.2)."""
    T, B, H = win.shape
    dA = torch.empty_like(win.E)
    r = torch.zeros(B, H, dtype=win.E.dtype)
    Wt = win.P["W_hh"].T
    for t in range(T - 1, -1, -1):
        dA[t] = (win.E[t] + r) * win.D[t]
        r = dA[t] @ Wt
    return dA


@dataclass
class LagDecomposition:
    """The full-window gradient of W_xh, W_hh, b_h split by lag k = s - t."""

    grads: list[dict[str, torch.Tensor]]  # g_k per lag, {name: tensor}
    full: dict[str, torch.Tensor]  # g = sum_k g_k
    proj: np.ndarray  # (T lags, T target steps, B): <c_{k,t,b}, g>, c the path group's gradient
    g_norm2: float  # ||g||^2 over the recurrent parameters

    def table(self) -> pd.DataFrame:
        """Per lag: share <g_k, g>/||g||^2 (sums to 1) and norm ratio ||g_k||/||g||."""
        gn = self.g_norm2**0.5
        share = self.proj.sum((1, 2)) / self.g_norm2
        norms = [float(torch.linalg.vector_norm(flatten(g))) / gn for g in self.grads]
        lag = np.arange(len(self.grads))
        return pd.DataFrame({"lag": lag, "share": share, "norm_ratio": norms})

    def share_beyond(self, k: int) -> float:
        """Share of the full gradient (projection on g) carried by lags > k: ⟨sum_{j>k} g_j, g⟩ / ‖g‖².
        Signed: a lag whose term points against g has a negative share, and the shares sum to 1."""
        return float(self.proj[k + 1 :].sum() / self.g_norm2)

    def tail_norms(self) -> np.ndarray:
        """(T,) ‖sum_{j>k} g_j‖ / ‖g‖ for k = 0..T-1: the size of the tail beyond lag k, whatever its
        direction (0 beyond the last lag)."""
        T = len(self.grads)
        out = np.zeros(T)
        tail = torch.zeros_like(flatten(self.grads[-1]))
        for k in range(T - 1, 0, -1):
            tail = tail + flatten(self.grads[k])
            out[k - 1] = float(torch.linalg.vector_norm(tail))
        return out / self.g_norm2**0.5


@torch.no_grad()
def lag_decomposition(win: Window) -> LagDecomposition:
    """g_k for every lag k, with Delta_{k+1}[t] = (Delta_k[t+1] W_hh^T) * f'(a_t): one batched matmul
    per lag over all source steps at once."""
    T, B, H = win.shape
    full = param_grads(win, full_adjoints(win))
    G = win.P  # for names only
    P = win.Hprev @ full["W_hh"] + full["W_xh"][win.X.T]  # (T, B, H): <c, g> = sum_h P * delta
    if win.bias:
        P = P + full["b_h"]
    Wt = G["W_hh"].T
    delta = win.E * win.D  # Delta_0[t] = delta_{t,t}
    grads, proj = [], np.zeros((T, T, B))
    for k in range(T):
        n = T - k  # target steps t = 0..T-1-k
        grads.append(param_grads(win, delta, slice(0, n)))
        proj[k, :n] = (P[:n] * delta).sum(-1).numpy()
        if k + 1 < T:
            delta = (delta[1:] @ Wt).mul_(win.D[: n - 1])
    g2 = float(flatten(full).square().sum())
    return LagDecomposition(grads, full, proj, g2)


@torch.no_grad()
def kept_gradient(win: Window, weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """sum over lags k, target steps t, rows b of weight[k, t, b] times the gradient of the path group
    (loss at s = t + k back to step t): the part of g an estimator keeps, with its path weights.
    weight: (lags T, target steps T, B) or (T, T) broadcast over rows."""
    T, B, H = win.shape
    if weight.dim() == 2:
        weight = weight[:, :, None].expand(T, T, B)
    weight = weight.to(win.E.dtype)
    Wt = win.P["W_hh"].T
    delta = win.E * win.D
    total = None
    for k in range(T):
        n = T - k
        part = param_grads(win, delta * weight[k, :n, :, None], slice(0, n))
        total = part if total is None else {name: total[name] + part[name] for name in total}
        if k + 1 < T:
            delta = (delta[1:] @ Wt).mul_(win.D[: n - 1])
    return total


def regular_keeps(k: int, T: int) -> np.ndarray:
    """(lags, target steps) mask: a path from the loss at s back to step t = s - lag survives regular(k)
    iff no cut xi_u = 0 with u in (t, s], the cuts being u = 0, k, 2k, ... (t and s in one chunk)."""
    lag = np.arange(T)[:, None]
    t = np.arange(T)[None, :]
    s = t + lag
    return ((t // k) == (s // k)) & (s < T)


def kept_by_regular(dec: LagDecomposition, k: int) -> np.ndarray:
    """Per lag, the share of the full gradient regular(k) keeps (exact; sums to its projection on g)."""
    T = dec.proj.shape[0]
    return (dec.proj * regular_keeps(k, T)[:, :, None]).sum((1, 2)) / dec.g_norm2


def path_weights(xi: torch.Tensor) -> torch.Tensor:
    """xi (n, T, B) -> W (n, lags T, target steps T, B): W[k, t] = prod_{u=t+1}^{t+k} xi_u, the weight a
    draw gives the path from the loss at s = t + k back to step t (0 where s >= T)."""
    n, T, B = xi.shape
    W = torch.zeros(n, T, T, B, dtype=xi.dtype)
    W[:, 0] = 1.0
    for k in range(1, T):
        W[:, k, : T - k] = W[:, k - 1, : T - k] * xi[:, k:]  # u = t + k
    return W


def kept_by_draws(dec: LagDecomposition, xi: torch.Tensor, chunk: int | None = None) -> np.ndarray:
    """Per draw and lag, the share of g the drawn estimator keeps: (n, T) = sum_{t,b} W p / ||g||^2."""
    T, B = dec.proj.shape[0], dec.proj.shape[2]
    chunk = chunk or max(1, CHUNK_BYTES // (T * T * B * 8))
    proj = torch.from_numpy(dec.proj).to(xi.dtype)
    out = [
        torch.einsum("nktb,ktb->nk", path_weights(xi[i : i + chunk]), proj)
        for i in range(0, xi.shape[0], chunk)
    ]
    return (torch.cat(out) / dec.g_norm2).numpy()


# ---------------------------------------------------------------------------------------------------
# How far a gradient travels: ||dh_t/dh_{t-k}||_2 (Pascanu et al. 2013)
# ---------------------------------------------------------------------------------------------------


@torch.no_grad()
def travel(win: Window, rows: int = 2) -> pd.DataFrame:
    """||dh_{T-1}/dh_{T-1-k}||_2 for k = 0..T-1, from the window's last step back, for the first `rows`
    batch rows: the mean and max over those rows, with the bound (sigma_max(W_hh) max|f'|)^k where max|f'|
    is the largest f'(a_t) in the window (so the bound holds for these very products).

    dh_t/dh_{t-1} = diag(f'(a_t)) W_hh^T (column layout); the product is renormalised at each step and
    its scale kept in log10, so vanishing to 1e-300 does not underflow."""
    T, B, H = win.shape
    r = min(rows, B)
    Wt = win.P["W_hh"].T
    M = torch.eye(H, dtype=Wt.dtype).expand(r, H, H).clone()
    logscale = torch.zeros(r, dtype=Wt.dtype)
    Ms, logs = [], []
    for k in range(T):
        Ms.append(M.clone())
        logs.append(logscale.clone())
        t = T - 1 - k  # M = dh_{T-1}/dh_t; the next factor is dh_t/dh_{t-1}
        if k + 1 < T:
            M = M @ (win.D[t, :r, :, None] * Wt)  # (r,H,H) @ diag(f'(a_t)) W_hh^T
            s = torch.linalg.matrix_norm(M).clamp_min(1e-300)
            M /= s[:, None, None]
            logscale += torch.log10(s)
    sv = spectral_norm(torch.stack(Ms))  # (T, r)
    log_norm = torch.log10(sv) + torch.stack(logs)
    sigma = float(torch.linalg.matrix_norm(win.P["W_hh"], ord=2))
    gamma = float(win.D.max())
    k = np.arange(T)
    return pd.DataFrame(
        {
            "lag": k,
            "log10_mean": ((torch.logsumexp(log_norm * LN10, 1) - np.log(r)) / LN10).numpy(),
            "log10_max": log_norm.max(1).values.numpy(),
            "log10_bound": k * np.log10(max(sigma * gamma, 1e-300)),
        }
    ).assign(sigma_max=sigma, gamma=gamma, rows=r)


def spectral_norm(M: torch.Tensor, block: int = 8, iters: int = 8) -> torch.Tensor:
    """||M||_2 for a batch of square matrices (..., H, H). Small H: exact singular values. Larger H: block
    subspace iteration on M M^T (Halko, Martinsson & Tropp 2011, alg. 4.4) started from a fixed block,
    whose error falls as (sigma_{block+1} / sigma_1)^(2 iters); a batched full SVD of 70 matrices of
    256 x 256 takes seconds on a CPU, this takes milliseconds."""
    H = M.shape[-1]
    if 4 * block >= H:
        return torch.linalg.svdvals(M)[..., 0]
    g = torch.Generator().manual_seed(0)
    Q = torch.randn(H, block, generator=g, dtype=M.dtype).expand(*M.shape[:-2], H, block)
    for i in range(iters):
        Q = M @ (M.mT @ Q)
        Q = torch.linalg.qr(Q).Q if i % 3 == 2 else Q / torch.linalg.vector_norm(Q, dim=-2, keepdim=True)
    Q = torch.linalg.qr(Q).Q
    Bm = Q.mT @ M  # (..., block, H): Rayleigh-Ritz on the subspace
    return torch.linalg.eigvalsh(Bm @ Bm.mT)[..., -1].clamp_min(0).sqrt()


def eigenvalues(model_or_win) -> np.ndarray:
    """The eigenvalues of W_hh (complex), for the complex plane with the unit circle."""
    W = model_or_win.P["W_hh"] if isinstance(model_or_win, Window) else model_or_win.W_hh.detach()
    return torch.linalg.eigvals(W.double().cpu()).numpy()
