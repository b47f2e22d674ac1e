"""The BPTT recursion of d2l §8.7.2 with a gate xi_t on every recurrent edge (bptt/truncation/gates.py
makes the gates): the loss and gradient of one minibatch window, by hand, for one draw of a strategy."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch

from .gates import Gates

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
    strategy: Gates,
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
