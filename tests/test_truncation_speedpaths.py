"""The fast paths of the BPTT recursion and of the gate draw (d2l §8.7.1-8.7.2) against plain references.

bptt() skips the gate multiply on steps whose gates are all 1 and the matmul on steps whose gates are
all 0, and reuses per-thread buffers; Randomized.gates() draws all steps at once when pi_t does not
depend on the lag. Each is checked against the straightforward computation.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from test_truncation import B, H, T, V, assert_grads_close, autograd_reference, make_batch, make_model

from bptt.truncation import ARTBPPi, ConstantPi, LinearPi, Randomized, bptt


def reference_gates(strategy: Randomized, batch_size: int, num_steps: int, generator) -> torch.Tensor:
    """The per-step lag recursion of d2l §8.7.1.3, written out: one uniform u[t, b] per step and row."""
    u = torch.rand(num_steps, batch_size, generator=generator, dtype=torch.float64)
    xi = torch.zeros(num_steps, batch_size, dtype=torch.float64)
    lag = torch.ones(batch_size, dtype=torch.int64)
    for t in range(1, num_steps):
        p = strategy.schedule.pi(t, lag)
        keep = u[t] < p
        xi[t] = torch.where(keep, 1.0 / p if strategy.reweight else torch.ones_like(p), 0.0)
        lag = torch.where(keep, lag + 1, 1)
    return xi


@pytest.mark.parametrize(
    "strategy",
    [
        Randomized(ConstantPi(0.7)),
        Randomized(LinearPi(0.9, 0.3, 40)),
        Randomized(ARTBPPi(3.0, 4.0)),
        Randomized(ARTBPPi(3.0, 4.0), reweight=False),
        Randomized(ConstantPi(0.7), reweight=False),
    ],
)
@pytest.mark.parametrize("num_steps", [1, 2, 40])
def test_gate_draw_equals_the_per_step_recursion(strategy, num_steps):
    for seed in range(5):
        got = strategy.gates(16, num_steps, torch.Generator().manual_seed(seed))
        want = reference_gates(strategy, 16, num_steps, torch.Generator().manual_seed(seed))
        assert got.dtype == torch.float64 and got.shape == (num_steps, 16)
        assert torch.equal(got, want)


def test_bptt_with_all_one_all_zero_and_mixed_steps_equals_autograd():
    """A gate matrix with every kind of step: all rows kept (1), all cut (0), rows differing with
    weights other than 1 (the 1/pi_t of randomized truncation)."""
    model = make_model()
    X, Y, state = make_batch()
    xi = torch.ones(T, B, dtype=torch.float64)
    xi[0] = 0.0
    xi[3] = 0.0  # all rows cut
    xi[5] = torch.tensor([0.0, 2.5, 1.25])  # rows differ
    xi[8] = torch.tensor([1.0, 0.0, 1.0])  # rows differ, weights 0/1 only
    assert xi.shape[1] == B == 3

    def gate(t, h):
        w = xi[t].unsqueeze(1)
        return h.detach() + w * (h - h.detach())

    got = bptt(model, X, Y, xi, state).grads
    assert_grads_close(got, autograd_reference(model, X, Y, state, edge=gate))


def test_results_do_not_alias_the_reused_buffers():
    """A second call (same shape, other data) must leave the first call's results as they were."""
    model = make_model()
    X, Y, state = make_batch(1)
    X2, Y2, state2 = make_batch(2)
    xi = torch.ones(T, B, dtype=torch.float64)
    xi[0] = 0.0
    first = bptt(model, X, Y, xi, state)
    kept = {n: g.clone() for n, g in first.grads.items()}
    kept_state, kept_norms = first.state.clone(), first.dh_norms.clone()
    bptt(model, X2, Y2, xi, state2)
    for n in kept:
        assert torch.equal(first.grads[n], kept[n]), n
    assert torch.equal(first.state, kept_state)
    assert torch.equal(first.dh_norms, kept_norms)


def test_a_change_of_window_shape_gives_the_same_results_as_a_fresh_computation():
    model = make_model()
    X, Y, state = make_batch()
    xi = torch.ones(T, B, dtype=torch.float64)
    xi[0] = 0.0
    want = bptt(model, X, Y, xi, state)
    bptt(model, X[:, :4], Y[:, :4], xi[:4], state)  # another shape in between
    bptt(model, X[:2], Y[:2], xi[:, :2], state[:2])
    got = bptt(model, X, Y, xi, state)
    for n in want.grads:
        assert torch.equal(got.grads[n], want.grads[n]), n
    assert torch.equal(got.state, want.state) and got.loss == want.loss


def test_threads_computing_at_once_get_their_own_results():
    """Two sessions of the dashboard may compute gradients at the same time on different models."""
    models = [make_model(seed=s) for s in (0, 1)]
    X, Y, state = make_batch()
    xi = torch.ones(T, B, dtype=torch.float64)
    xi[0] = 0.0
    want = [bptt(m, X, Y, xi, state).grads for m in models]
    errors: list[str] = []
    barrier = threading.Barrier(2)

    def work(i: int) -> None:
        barrier.wait()
        for _ in range(200):
            got = bptt(models[i], X, Y, xi, state).grads
            if not all(torch.equal(got[n], want[i][n]) for n in got):
                errors.append(f"thread {i}")
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors


def test_forward_is_unchanged_by_the_buffer_path():
    """hidden_states with and without `out` give the same states (the buffer path is bptt's)."""
    model = make_model()
    X, _, state = make_batch()
    buf = torch.empty(T, B, H, dtype=torch.float64)
    a = model.hidden_states(X, state)
    b = model.hidden_states(X, state, out=buf)
    assert b.data_ptr() == buf.data_ptr()
    assert torch.equal(a, b)
    assert np.isfinite(a.numpy()).all() and a.shape == (T, B, H) and model.vocab_size == V
