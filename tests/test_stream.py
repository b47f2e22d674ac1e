"""Full computation over the whole sequence (d2l §8.7.1.1, bptt/truncation/stream.py) against an independent
reference: autograd on the explicitly unrolled graph over the concatenated windows, float64, built here
with one forward from the stream's start (one-hot inputs, no state carried between calls) and the loss of
the last window only. The window-level "full" (detached between windows) is tested against the unrolled
graph of one window in tests/test_truncation.py (test_full_equals_autograd_on_unrolled_graph)."""

import gc
import weakref

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from models import float64_rnn

import bptt
from bptt.config import ConfigError, RunConfig, from_mapping
from bptt.data import make_corpus, seq_data_iter_sequential
from bptt.training import Trainer
from bptt.truncation import Full, Strategy
from bptt.truncation import bptt as bptt_window
from bptt.truncation.stream import Stream

V, H, B, T, WINDOWS = 6, 5, 3, 4, 5
NAMES = ("W_xh", "W_hh", "b_h", "W_hq", "b_q")


def make_model(activation="tanh", bias=True, scale=0.8, seed=0):
    """A small float64 model with weights large enough that gradients reach several windows back."""
    return float64_rnn(V, H, activation, bias, scale, seed)


def text(seed=1, windows=WINDOWS):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (B, T * windows), generator=g), torch.randint(
        0, V, (B, T * windows), generator=g
    )


def window(Z, n):
    return Z[:, n * T : (n + 1) * T]


def unrolled(model, X, Y, last, h0=None, *, hidden=H, vocab=V):
    """Autograd on one forward over the whole concatenated sequence X (B, L) from h0 (zeros if None); the
    loss is the mean cross-entropy of the last `last` steps only."""
    P = {n: p.detach().clone().requires_grad_(p.requires_grad) for n, p in model.named_parameters()}
    h = torch.zeros(X.shape[0], hidden, dtype=torch.float64) if h0 is None else h0.detach().clone()
    states = []
    for t in range(X.shape[1]):
        a = F.one_hot(X[:, t], vocab).double() @ P["W_xh"] + h @ P["W_hh"] + (P["b_h"] if model.bias else 0)
        h = torch.tanh(a) if model.activation == "tanh" else a
        states.append(h)
    O = torch.stack(states[-last:]) @ P["W_hq"] + (P["b_q"] if model.bias else 0)  # (last, B, V)
    loss = F.cross_entropy(O.reshape(-1, vocab), Y[:, -last:].T.reshape(-1))
    wanted = [n for n in NAMES if P[n].requires_grad]
    return (
        dict(zip(wanted, torch.autograd.grad(loss, [P[n] for n in wanted]), strict=True)),
        float(loss.detach()),
        h,
    )


def assert_close(got, want):
    assert set(got) == set(want)
    for n in want:
        torch.testing.assert_close(got[n], want[n], rtol=1e-10, atol=1e-12, msg=n)


@pytest.mark.parametrize(("activation", "bias"), [("tanh", True), ("identity", False), ("tanh", False)])
def test_each_step_equals_autograd_on_the_unrolled_stream(activation, bias):
    model = make_model(activation, bias, scale=0.8 if activation == "tanh" else 0.4)
    X, Y = text()
    stream = Stream()
    for n in range(WINDOWS):
        out = stream.step(model, window(X, n), window(Y, n))
        want, loss, _ = unrolled(model, X[:, : (n + 1) * T], Y[:, : (n + 1) * T], last=T)
        assert_close(out.grads, want)
        assert out.loss == pytest.approx(loss, rel=1e-12)
        assert stream.last["held_steps"] == (n + 1) * T
        assert (out.xi[0] == 0).all() == (n == 0)  # the stream's start is its only cut


def test_the_stream_differs_from_full_within_each_window():
    """The property the reference test checks is not vacuous: the earlier windows change the gradient
    by far more than the tolerance (so detaching between windows fails it)."""
    model = make_model()
    X, Y = text()
    stream, state = Stream(), None
    for n in range(WINDOWS):
        out = stream.step(model, window(X, n), window(Y, n))
        windowed = bptt_window(model, window(X, n), window(Y, n), Full().gates(B, T), state)
        state = windowed.state
    diff = (out.grads["W_hh"] - windowed.grads["W_hh"]).abs().max()
    assert diff > 1e-3 * out.grads["W_hh"].abs().max()
    torch.testing.assert_close(out.grads["W_hq"], windowed.grads["W_hq"], rtol=1e-10, atol=1e-12)  # same h


def test_the_stream_restarts_exactly_at_the_step_cap():
    """max_steps = 3T: windows 1-3 form one stream; window 4 starts a new one from the carried state,
    detached there (its gradient is the unrolled graph of windows 4-5 from h_{3T} as a constant)."""
    model = make_model()
    X, Y = text()
    stream = Stream(max_steps=3 * T)
    held = []
    for n in range(WINDOWS):
        out = stream.step(model, window(X, n), window(Y, n))
        held.append(stream.last["held_steps"])
        if n == 2:  # the third window still reaches back to the first
            assert_close(out.grads, unrolled(model, X[:, : 3 * T], Y[:, : 3 * T], last=T)[0])
    assert held == [T, 2 * T, 3 * T, T, 2 * T]
    h3 = unrolled(model, X[:, : 3 * T], Y[:, : 3 * T], last=T)[2]
    want, _, _ = unrolled(model, X[:, 3 * T :], Y[:, 3 * T :], last=T, h0=h3)
    assert_close(out.grads, want)
    assert (out.xi[0] == 1).all()  # window 5 continues window 4's stream


def test_the_stream_restarts_before_the_byte_cap_and_at_an_epochs_start():
    model = make_model()
    X, Y = text()
    per_window = Stream()
    per_window.step(model, window(X, 0), window(Y, 0))
    one = per_window.last["graph_bytes"]
    assert one > 0
    stream = Stream(max_bytes=2 * one)  # room for two windows, not three
    held = [(stream.step(model, window(X, n), window(Y, n)), stream.last)[1]["held_steps"] for n in range(5)]
    assert held == [T, 2 * T, T, 2 * T, T]
    assert stream.last["graph_bytes"] == one
    stream = Stream()
    stream.step(model, window(X, 0), window(Y, 0))
    out = stream.step(model, window(X, 1), window(Y, 1), fresh=True)
    assert stream.last["held_steps"] == T and (out.xi[0] == 0).all()


def test_graph_bytes_count_the_saved_states_and_the_weights_copies():
    """Per window: h_1..h_T (the states tanh and the next matmul save), h_0 when it is the carried state,
    the T index vectors of the one-hot lookup, and one copy of W_xh, W_hh, b_h. The count grows by the
    same amount each window, linearly with the stream."""
    model = make_model()
    X, Y = text()
    stream = Stream()
    sizes = [
        (stream.step(model, window(X, n), window(Y, n)), stream.last)[1]["graph_bytes"] for n in range(4)
    ]
    f64 = 8
    states = T * B * H * f64  # h_1 .. h_T
    weights = (V * H + H * H + H) * f64
    indices = T * B * 8  # int64 token ids, one (B,) column a step
    assert sizes[0] == states + weights + indices + B * H * f64  # h_0: the zero state, saved by the matmul
    assert [b - a for a, b in zip(sizes, sizes[1:], strict=False)] == [states + weights + indices] * 3


def test_a_restart_frees_the_graph_without_the_garbage_collector():
    """The graph is freed by reference counting alone: nothing in it refers back to itself (a saved
    output that held its own grad_fn would keep every window alive until a gc pass, or for ever)."""
    model = make_model()
    X, Y = text()
    stream = Stream(max_steps=2 * T)
    gc.disable()
    try:
        stream.step(model, window(X, 0), window(Y, 0))
        first = weakref.ref(stream.copies[0]["W_hh"])
        stream.step(model, window(X, 1), window(Y, 1))
        assert first() is not None  # held while the stream lasts
        stream.step(model, window(X, 2), window(Y, 2))  # the cap: a restart
        assert first() is None
    finally:
        gc.enable()


def corpus():
    return make_corpus("the time traveller for so it will be convenient to speak of him " * 40, "test")


def test_a_training_run_records_time_and_memory_growing_and_restarting_at_each_epoch():
    cfg = RunConfig(
        truncation="stream", num_steps=5, batch_size=16, num_hiddens=8, epochs=2, max_tokens=1_000
    )
    trainer = Trainer(cfg, corpus())
    trainer.run()
    df = trainer.snapshot()[0]
    per_epoch = trainer.batches_per_epoch
    assert trainer.status == "finished" and per_epoch >= 3 and len(df) == 2 * per_epoch
    want = [5 * (i % per_epoch + 1) for i in range(len(df))]
    assert df["held_steps"].tolist() == want
    assert (df["graph_bytes"].diff()[df["held_steps"].diff() > 0] > 0).all()
    assert (df["backward_time"] > 0).all()
    assert trainer.stream.steps == 0  # a finished run holds no graph


def test_the_trainer_trains_with_the_unrolled_gradient_of_its_stream():
    """The Trainer's gradient at step n (before clipping: clip off) is autograd on the unrolled graph over
    the epoch's first n windows as sequential partitioning yields them; lr 1e-12 moves the weights by less
    than 1e-9, so one set of weights made every window, as in the reference."""
    cfg = RunConfig(truncation="stream", num_steps=5, batch_size=4, num_hiddens=8, epochs=1, max_tokens=1_000,
                    lr=1e-12, clip=0.0)  # fmt: skip
    trainer = Trainer(cfg, corpus())
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    batches = list(seq_data_iter_sequential(trainer.corpus.corpus, 4, 5, np.random.default_rng(cfg.seed)))
    model = bptt.CharRNN(len(trainer.corpus.vocab), 8, dtype=torch.float64)
    model.load_state_dict({n: p.double() for n, p in before.items()})
    for n in range(1, 5):
        trainer.step()
        X = torch.cat([x for x, _ in batches[:n]], 1)
        Y = torch.cat([y for _, y in batches[:n]], 1)
        want = unrolled(model, X, Y, last=5, hidden=8, vocab=len(trainer.corpus.vocab))[0]
        for name, p in trainer.model.named_parameters():
            torch.testing.assert_close(p.grad.double(), want[name], rtol=2e-4, atol=1e-7, msg=name)
    assert (
        max(float((p.detach() - before[n]).abs().max()) for n, p in trainer.model.named_parameters()) < 1e-9
    )


def test_stream_needs_sequential_partitioning():
    with pytest.raises(ConfigError, match="sequential"):
        RunConfig(truncation="stream", sampler="random")
    cfg, notes = from_mapping({"truncation": "stream", "sampler": "random"})
    assert cfg.sampler == "sequential" and any("sequential" in n for n in notes)
    assert Strategy.parse("stream").config_fields() == {"truncation": "stream", "sampler": "sequential"}
    assert Strategy.of_config(cfg) == Strategy("stream") and Strategy("stream").key == "stream"


def test_a_streams_graph_counts_toward_the_runs_bytes_until_it_is_freed():
    """What the session's byte budget reads (Trainer.nbytes, bptt/hosting/runs.py) includes the graph a
    stream holds, and loses exactly that when the stream restarts."""
    cfg = RunConfig(truncation="stream", num_steps=5, batch_size=4, num_hiddens=8, epochs=1, max_tokens=1_000)
    trainer = Trainer(cfg, corpus())
    for _ in range(3):
        trainer.step()
    held = trainer.stream.bytes
    assert held > 0
    with_graph = trainer.nbytes()
    trainer.stream.restart()
    assert with_graph - trainer.nbytes() == held


def test_a_stopped_stream_run_lets_its_graph_go():
    from bptt.hosting.runs import Run

    cfg = RunConfig(truncation="stream", num_steps=5, batch_size=4, num_hiddens=8, epochs=1, max_tokens=1_000)
    run = Run(1, cfg, Trainer(cfg, corpus()))
    for _ in range(3):
        run.trainer.step()
    assert run.trainer.stream.bytes > 0
    run.stopped = True  # what the page's Stop writes
    assert run.trainer.stream.bytes == 0 and run.finished
