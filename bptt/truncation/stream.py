"""Full computation over the whole sequence (d2l §8.7.1.1): eq. (8.7.7) summed over every step since the
stream began, not only over the current window.

With sequential partitioning (d2l §8.3.4) row b of minibatch n continues row b of minibatch n − 1, so the
windows of one epoch form B streams. The book's train_ch8 detaches the state between windows: its "full"
backpropagation stops at the window's start, which is regular truncation at τ = num_steps (d2l §8.7.1.2).
Here the state is never detached: each step's loss (the current window's mean cross-entropy) is
backpropagated through the current window and through every earlier window of the stream, with autograd on
the graph the stream has kept. The cost of step n grows with n, in time and in memory, which is why the book
calls the full computation slow and liable to explode (§8.7.1.1); so the stream restarts (the state is
detached and the graph freed) before it would hold more than `max_steps` time steps or `max_bytes` bytes,
and at every epoch's start, where sequential partitioning starts new streams at a new offset.

Each earlier window keeps the weights it was computed with (a copy per window): an optimizer step between
two windows changes the parameters in place, and the graph of the past must backpropagate through the
weights that produced it. The gradient with respect to a parameter is the sum over the windows held of the
gradient with respect to that window's copy of it (d2l §8.7.2: W_hh's gradient is a sum over every use).
"""

from __future__ import annotations

import time

import torch

from .backward import Backward

# Time steps one stream may hold: 2,000 (57 of the book's windows of 35), where a step's backward pass
# takes well under a second of CPU at the book's H = 256, B = 32 (benchmarks/bench_stream.py).
MAX_STREAM_STEPS = 2_000
# Bytes the held graph may keep, counted as the tensors its forward saved for backward plus the weights'
# copies: 128 MiB. At the book's H = 256, B = 32 the step cap binds first (about 41 KB a step, 79 MiB at
# the cap); at the largest settings allowed (H = 512, B = 128) this one does, after about 400 steps. The
# process grows by up to four times the count (the allocator keeps the backward pass's freed buffers;
# benchmarks/bench_stream.py measures both), so two training slots stay well within a 3 GB host.
MAX_STREAM_BYTES = 128 * 2**20
RECURRENT = ("W_xh", "W_hh", "b_h")  # the parameters of the recurrence (d2l §8.4.2): kept per window


class Stream:
    """The graph of one stream of windows and its bounds. `step` trains on the next window."""

    COLUMNS = ("held_steps", "graph_bytes", "backward_time")  # what each step records, beside the history

    def __init__(self, max_steps: int = MAX_STREAM_STEPS, max_bytes: int = MAX_STREAM_BYTES) -> None:
        self.max_steps, self.max_bytes = max_steps, max_bytes
        self.restart()

    def restart(self) -> None:
        """Forget the state and its graph, and every window's copies of the weights."""
        self.state: torch.Tensor | None = None  # (B, H), its graph reaching back to the stream's start
        self.copies: list[dict[str, torch.Tensor]] = []  # per window held: its copies of RECURRENT
        self.steps, self.bytes, self.window_bytes = 0, 0, 0

    def full(self, T: int) -> bool:
        """Whether one more window of T steps would go past a bound (its bytes guessed from the last)."""
        return self.steps + T > self.max_steps or self.bytes + self.window_bytes > self.max_bytes

    def step(self, model, X: torch.Tensor, Y: torch.Tensor, *, fresh: bool = False) -> Backward:
        """Loss and gradient of the window (X, Y) (B, T), backpropagated through the whole stream held.
        `fresh`: a new stream starts here (an epoch's first window). The record is in `self.last`."""
        dev = model.device
        X, Y = X.to(dev), Y.to(dev)
        B, T = X.shape
        restarted = fresh or self.state is None or self.full(T)
        carried = None if fresh or self.state is None else self.state.detach()  # the cap: a detach, as d2l
        if restarted:
            self.restart()
            self.state = carried
        params = dict(model.named_parameters())
        mine = {n: p.detach().clone().requires_grad_(p.requires_grad) for n, p in params.items()}
        size = {n: t.numel() * t.element_size() for n, t in mine.items()}
        saved = {mine[n].untyped_storage().data_ptr(): size[n] for n in RECURRENT}  # the copies held
        if not restarted:  # h_0 is the last window's h_T, counted there
            saved[self.state.untyped_storage().data_ptr()] = 0

        def pack(t: torch.Tensor) -> torch.Tensor:  # count each tensor the recurrence saves, once
            saved.setdefault(t.untyped_storage().data_ptr(), t.numel() * t.element_size())
            return t.detach()  # not t itself: a saved output holding its own grad_fn is a reference cycle

        h = model.begin_state(B) if self.state is None else self.state
        hs = []
        with torch.enable_grad():
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                inputs = mine["W_xh"][X.T] + mine["b_h"] if model.bias else mine["W_xh"][X.T]  # (T, B, H)
                for t in range(T):  # h_t = f(x_t W_xh + h_{t-1} W_hh + b_h), d2l (8.4.5)
                    a = inputs[t] + h @ mine["W_hh"]
                    h = torch.tanh(a) if model.activation == "tanh" else a
                    hs.append(h)
            Hflat = torch.stack(hs).reshape(T * B, -1)  # O = H W_hq + b_q, d2l (8.4.5): this window only
            logits = Hflat @ mine["W_hq"] + mine["b_q"] if model.bias else Hflat @ mine["W_hq"]
            loss = torch.nn.functional.cross_entropy(logits, Y.T.reshape(-1))  # time-major as d2l
        self.copies.append({n: mine[n] for n in RECURRENT if mine[n].requires_grad})
        self.window_bytes = sum(saved.values())
        self.steps, self.bytes = self.steps + T, self.bytes + self.window_bytes
        held = [c for window in self.copies for c in window.values()]
        heads = [mine[n] for n in ("W_hq", "b_q") if mine[n].requires_grad]
        clock = _clock(dev)
        start = clock()
        got = torch.autograd.grad(loss, [*held, *heads, *hs], retain_graph=True, allow_unused=True)
        seconds = clock() - start
        grads = {n: torch.zeros_like(p) for n, p in params.items() if p.requires_grad}
        names = [n for window in self.copies for n in window] + [n for n in ("W_hq", "b_q") if n in grads]
        for n, g in zip(names, got, strict=False):
            if g is not None:  # None: a weight the loss does not reach (b_h of a bias-free model)
                grads[n] += g
        dh = torch.stack(got[len(names) :])  # (T, B, H): dL/dh_t, the whole stream's future included
        self.state = h  # carried with its graph: no detach
        xi = torch.ones(T, B)
        if restarted:
            xi[0] = 0  # the stream's start is the only cut
        self.last = {"held_steps": self.steps, "graph_bytes": self.bytes, "backward_time": seconds}
        return Backward(
            float(loss.detach()), grads, torch.linalg.vector_norm(dh.reshape(T, -1), dim=1), xi, h.detach()
        )


def _clock(dev: torch.device):
    """The backward pass's clock. On the CPU autograd runs in the calling thread: its CPU time
    (time.thread_time) counts the work itself, not the waits of a core shared with other sessions. On a
    GPU: wall time, the device synchronized."""
    if dev.type == "cpu":
        return time.thread_time
    return lambda: (torch.cuda.synchronize(dev), time.perf_counter())[1]
