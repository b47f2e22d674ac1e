"""The trainer: records, determinism, state handling, divergence, thread safety, the CLI."""

import json
import math
import threading
import time

import numpy as np
import pytest
import torch

from bptt import RunConfig, Trainer
from bptt.corpora import load_corpus
from bptt.data import make_corpus
from bptt.history import COLUMNS

SMALL = RunConfig(
    corpus="bundled", max_tokens=3000, num_hiddens=32, batch_size=8, num_steps=10, epochs=2, device="cpu"
)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("bundled", max_tokens=3000)


def records(trainer, n):
    return [trainer.step() for _ in range(n)]


def test_a_step_returns_a_full_record(corpus):
    trainer = Trainer(SMALL, corpus)
    rec = trainer.step()
    assert set(COLUMNS) <= set(rec) and rec["step"] == 1 and rec["tokens"] == 8 * 10
    assert rec["perplexity"] == pytest.approx(math.exp(rec["loss"]))
    assert rec["dh_norms"].shape == (10,) and np.all(rec["dh_norms"] > 0)
    assert rec["cuts"].shape == (10, 8) and rec["cuts"][0].all()  # the window boundary is a cut
    assert rec["cuts"][1:].sum() == 0  # regular truncation with k = num_steps cuts nowhere else
    assert rec["grad_norm_clipped"] <= SMALL.clip + 1e-9
    assert math.isfinite(rec["spectral_norm"])  # measured on the first step
    per_param = math.sqrt(sum(rec[f"norm_{n}"] ** 2 for n in ("W_xh", "W_hh", "b_h", "W_hq", "b_q")))
    assert rec["grad_norm"] == pytest.approx(per_param, rel=1e-5)
    assert trainer.status == "running" and len(trainer.history) == 1


def test_clipping_at_theta(corpus):
    trainer = Trainer(SMALL.replace(clip=1e-3), corpus)
    rec = trainer.step()
    assert rec["clipped"] and rec["grad_norm"] > 1e-3
    assert rec["grad_norm_clipped"] == pytest.approx(1e-3)
    total = math.sqrt(sum(float(p.grad.norm()) ** 2 for p in trainer.model.parameters()))
    assert total == pytest.approx(1e-3, rel=1e-4)  # what the optimizer actually used


def test_same_seed_gives_bit_identical_records(corpus):
    cfg = SMALL.replace(truncation="randomized", schedule="artbp", t0=3.0)
    a, b = Trainer(cfg, corpus), Trainer(cfg, corpus)
    for ra, rb in zip(records(a, 12), records(b, 12)):
        for key in COLUMNS:
            if key not in ("wall_time", "tokens_per_sec"):
                assert ra[key] == rb[key] or (math.isnan(ra[key]) and math.isnan(rb[key])), key
        assert np.array_equal(ra["dh_norms"], rb["dh_norms"])
    c = Trainer(cfg.replace(seed=1), corpus)
    assert records(c, 1)[0]["loss"] != records(Trainer(cfg, corpus), 1)[0]["loss"]


def reference_last_state(weights, X, h0):
    """h_T of one window in float64, by the book's recurrence h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)
    (d2l §8.5.2) written out here, with `weights` {name: tensor} and h_0 = `h0` (zeros when None)."""
    W_xh, W_hh, b_h = (weights[n].double() for n in ("W_xh", "W_hh", "b_h"))
    h = torch.zeros(X.shape[0], W_hh.shape[0], dtype=torch.float64) if h0 is None else h0.double()
    for t in range(X.shape[1]):
        h = torch.tanh(W_xh[X[:, t]] + h @ W_hh + b_h)
    return h


def spy_on_bptt(monkeypatch, trainer):
    """Record, for every call the trainer makes to the BPTT recursion, the window X, the state handed in
    and the weights as they were before the call (float64 copies)."""
    import bptt.training

    calls = []
    real = bptt.training.bptt

    def spy(model, X, Y, xi, state=None):
        weights = {n: p.detach().double().clone() for n, p in model.named_parameters()}
        calls.append(
            {"X": X.clone(), "state": None if state is None else state.detach().clone(), "w": weights}
        )
        return real(model, X, Y, xi, state)

    monkeypatch.setattr(bptt.training, "bptt", spy)
    return calls


def test_sequential_sampler_carries_the_state_computed_before_the_update(corpus, monkeypatch):
    """d2l §8.5.4 (sequential partitioning): each minibatch starts from the last hidden state of the
    previous one, detached, i.e. h_T of the previous window under the weights *that window was trained
    with* (the state is computed in the forward pass, before that step's update); each epoch starts from
    zeros. Checked against the recurrence in float64, step by step over the first epoch and into the next."""
    trainer = Trainer(SMALL.replace(sampler="sequential", truncation="full"), corpus)
    calls = spy_on_bptt(monkeypatch, trainer)
    n = trainer.batches_per_epoch
    assert n >= 3
    for _ in range(n + 2):
        assert trainer.step() is not None
    assert calls[0]["state"] is None and calls[n]["state"] is None, "every epoch starts from zeros"
    expected = None  # h_0 of the first window
    for i in range(1, n):
        expected = reference_last_state(calls[i - 1]["w"], calls[i - 1]["X"], expected)
        got = calls[i]["state"]
        assert got is not None, f"step {i + 1} got no state: the sequential sampler must carry it"
        tol = 1e-5 * float(expected.abs().max())
        assert float(expected.abs().max()) > 0.01  # a zero state could not pass
        err = float((got.double() - expected).abs().max())
        assert err < tol, f"step {i + 1}: carried state off by {err:.3g} (tolerance {tol:.3g})"
        # The weights after the update give a measurably different state: the test tells them apart.
        after = reference_last_state(calls[i]["w"], calls[i - 1]["X"], calls[i - 1]["state"])
        assert float((after - expected).abs().max()) > 100 * tol


def test_random_sampler_starts_every_minibatch_from_zeros(corpus, monkeypatch):
    """d2l §8.5.4 (random sampling): adjacent minibatches are not adjacent in the text, so every one
    starts from a fresh zero state."""
    trainer = Trainer(SMALL.replace(sampler="random", truncation="full"), corpus)
    calls = spy_on_bptt(monkeypatch, trainer)
    for _ in range(4):
        assert trainer.step() is not None
    assert [c["state"] for c in calls] == [None] * 4


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_diverging_loss_stops_training_and_keeps_weights_and_history(corpus, optimizer):
    trainer = Trainer(SMALL.replace(lr=100.0, clip=0.0, optimizer=optimizer), corpus)
    before = []  # the weights before each step
    for _ in range(200):
        before.append([p.detach().clone() for p in trainer.model.parameters()])
        if trainer.step() is None:
            break
    assert trainer.status == "diverged", "lr=100 without clipping must blow up within 200 steps"
    assert "learning rate" in trainer.message
    n_bad = len(before)  # the call that found the loss diverged
    assert len(trainer.history) == n_bad - 1  # the history up to the last good step stays
    assert all(r < 100 for r in trainer.history.columns["loss"])
    # The bad loss came from the weights of the previous update: the ones before it are kept.
    assert all(torch.equal(p, w) for p, w in zip(trainer.model.parameters(), before[max(n_bad - 2, 0)]))
    assert trainer.step() is None and trainer.status == "diverged"


def test_a_nan_gradient_is_caught_before_the_update(corpus):
    trainer = Trainer(SMALL, corpus)
    trainer.step()
    with torch.no_grad():
        trainer.model.W_hh[0, 0] = math.nan
    assert trainer.step() is None and trainer.status == "diverged"
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert len(trainer.history) == 1


def test_a_second_thread_inside_step_is_skipped_not_doubled(corpus):
    trainer = Trainer(SMALL, corpus)
    trainer.lock.acquire()  # another thread is inside step()
    try:
        assert trainer.step() is None
        assert trainer.step_count == 0 and not trainer.done
    finally:
        trainer.lock.release()
    # Four threads train at once, and each update sleeps half-way, handing the interpreter to the others:
    # without the lock they would be inside the update together.
    inside, peak, guard = [0], [0], threading.Lock()
    real_update = trainer._update

    def slow_update(X, Y):
        with guard:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        try:
            time.sleep(0.005)
            return real_update(X, Y)
        finally:
            with guard:
                inside[0] -= 1

    trainer._update = slow_update
    results = []
    threads = [threading.Thread(target=lambda: results.append(trainer.run_for(0.3))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1, f"{peak[0]} threads were inside the update at once"
    steps = [r["step"] for rs in results for r in rs]
    assert steps and sorted(steps) == list(range(1, len(steps) + 1)), "every step ran exactly once"
    frame, dh, _ = trainer.snapshot()
    assert len(frame) == len(dh) == trainer.step_count


def test_run_to_the_end_finishes_with_epochs_and_progress(corpus):
    trainer = Trainer(SMALL, corpus)
    trainer.run()
    assert trainer.status == "finished" and trainer.progress == 1.0
    _, _, epochs = trainer.snapshot()
    assert list(epochs["epoch"]) == [1, 2]
    assert trainer.perplexity() == epochs["perplexity"].iloc[-1]
    assert trainer.step() is None


def test_training_lowers_the_loss(corpus):
    trainer = Trainer(SMALL.replace(epochs=15), corpus)
    trainer.run()
    _, _, epochs = trainer.snapshot()
    assert epochs["perplexity"].iloc[-1] < 0.8 * epochs["perplexity"].iloc[0]


def held_bytes(trainer) -> int:
    """Bytes the trainer holds, measured by walking what it references: tensor storages (each counted
    once), numpy buffers, Python numbers, lists and dicts. The corpus is left out (shared, bounded by
    max_tokens)."""
    import sys

    seen: set[int] = set()
    total = 0

    def walk(obj):
        nonlocal total
        if obj is None or isinstance(obj, (str, RunConfig, threading.Lock().__class__)):
            return
        if isinstance(obj, torch.Tensor):
            storage = obj.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()
            if obj.grad is not None:
                walk(obj.grad)
            return
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            total += sys.getsizeof(obj) + (obj.nbytes if obj.base is not None else 0)  # a view: + its data
        elif isinstance(obj, (bool, int, float)):
            total += sys.getsizeof(obj)
        elif isinstance(obj, (list, tuple, set)):
            total += sys.getsizeof(obj)
            for v in obj:
                walk(v)
        elif isinstance(obj, dict):
            total += sys.getsizeof(obj)
            for k, v in obj.items():
                walk(k)
                walk(v)
        elif isinstance(obj, torch.nn.Module):
            for t in list(obj.parameters()) + list(obj.buffers()):
                walk(t)
        elif isinstance(obj, torch.optim.Optimizer):
            walk(list(obj.state.values()))
        elif hasattr(obj, "__dict__"):
            walk(vars(obj))

    skip = ("corpus", "_batches", "rng", "gate_generator", "weights")  # weights: tests/test_snapshots.py
    walk({k: v for k, v in vars(trainer).items() if k not in skip})
    return total


def test_a_large_trainer_holds_its_weights_and_a_small_row_per_step(corpus):
    """At H=512 with Adam the trainer holds the weights five times (weights, gradient, two moments, the
    last good copy) and, per step, one row of the history: the scalar COLUMNS and T values of
    ||dL/dh_t||. Measured after 10 and after 60 steps; the run the dashboard allows (50 epochs of this
    corpus) then stays under 50 MB."""
    import sys

    cfg = SMALL.replace(num_hiddens=512, optimizer="adam", lr=0.01, epochs=50)
    trainer = Trainer(cfg, corpus)
    trainer.run_for(600.0, max_steps=10)  # steps, not seconds: a loaded machine takes longer
    at10 = held_bytes(trainer)
    trainer.run_for(600.0, max_steps=50)
    at60 = held_bytes(trainer)
    assert trainer.step_count == 60
    weights = sum(p.numel() * p.element_size() for p in trainer.model.parameters())
    B, T, H = cfg.batch_size, cfg.num_steps, cfg.num_hiddens
    window = B * H * 4 + B * T * 8 + T * B * 4  # the carried state, the last window's X and xi
    fixed = 5 * weights + window
    assert fixed < at10 < fixed + 64_000, (at10, fixed)  # + small Python objects
    # One row: a float object and a list slot per column, T float32 values in an array of their own
    # (an array's header is about 112 bytes); lists grow by over-allocation, about 1/8.
    row = len(COLUMNS) * (sys.getsizeof(1.0) + 8) + T * 4 + sys.getsizeof(np.zeros(0, np.float32)) + 8
    per_step = (at60 - at10) / 50
    assert per_step < 1.25 * row, (per_step, row)
    steps = cfg.epochs * trainer.batches_per_epoch
    assert fixed + steps * 1.25 * row < 50e6


def test_predict_is_the_books_greedy_continuation(corpus):
    trainer = Trainer(SMALL, corpus)
    out = trainer.predict("time traveller", 10)
    assert out.startswith("time traveller") and len(out) == len("time traveller") + 10
    assert out == trainer.predict("time traveller", 10)
    # Sampling at temperature 1.5 from an untrained model (near-uniform over the vocabulary) is not the
    # greedy argmax: 20 draws all equal to it would have probability about (1/28)^20. The draw is seeded by
    # (seed, step): the same call gives the same text.
    greedy = trainer.predict("the", 20)
    sampled = trainer.predict("the", 20, temperature=1.5)
    assert sampled != greedy
    assert len(sampled) == 23 and sampled.startswith("the")
    assert sampled == trainer.predict("the", 20, temperature=1.5)


def test_too_short_corpus_is_a_clear_error():
    from bptt.data import CorpusError

    tiny = make_corpus("hello world " * 5, "tiny")
    with pytest.raises(CorpusError, match="minibatch"):
        Trainer(SMALL, tiny)


def test_cli_prints_one_json_line(tmp_path, capsys):
    from bptt.cli import main

    path = tmp_path / "text.txt"
    path.write_text(
        ("The Time Traveller (for so it will be convenient to speak of him). " * 80), encoding="utf-8"
    )
    metrics = tmp_path / "m.csv"
    flags = "--max-tokens 3000 --num-hiddens 16 --epochs 2 --batch-size 4 --num-steps 8 --device cpu"
    flags += " --truncation randomized --pi 0.8"
    code = main(["train", "--corpus", str(path), *flags.split(), "--metrics", str(metrics)])
    out = capsys.readouterr()
    assert code == 0
    result = json.loads(out.out.strip().splitlines()[-1])
    assert {"perplexity", "tokens_per_sec", "tokens", "seconds", "prediction"} <= set(result)
    assert result["status"] == "finished" and result["prediction"].startswith("time traveller")
    assert metrics.read_text().splitlines()[0].startswith("step,epoch,tokens,loss")
    assert "epoch" in out.err


def test_cli_rejects_bad_settings_with_a_message(capsys):
    from bptt.cli import main

    assert main(["train", "--corpus", "bundled", "--pi", "0", "--truncation", "randomized"]) == 2
    assert "pi must be in (0, 1]" in capsys.readouterr().err
    assert main(["train", "--corpus", "/nonexistent/file.txt"]) == 2


def test_interrupt_ends_a_chunk_in_another_thread_after_one_step(corpus):
    trainer = Trainer(SMALL.replace(epochs=500, num_hiddens=128), corpus)
    done = []
    worker = threading.Thread(target=lambda: done.append(trainer.run_for(30.0)))
    worker.start()
    while trainer.step_count < 3 and worker.is_alive():  # a worker that died must not hang the test
        time.sleep(0.001)
    assert trainer.step_count >= 3
    trainer.interrupt()
    worker.join(timeout=5)
    assert not worker.is_alive(), "run_for returned long before its 30 s"
    assert not trainer.done and len(done[0]) >= 3
    assert len(trainer.run_for(0.05)) >= 1  # a new chunk is not affected by the old interrupt


def test_history_owns_its_arrays_so_the_per_step_buffers_can_be_freed(corpus):
    """Numpy views of torch tensors kept in the history pinned the allocator's heap: the server's memory
    grew by ~0.4 MB per step at H=256 (measured). Every kept array must own its data."""
    trainer = Trainer(SMALL, corpus)
    trainer.run_for(0.2, max_steps=5)
    assert all(a.base is None and a.flags.owndata for a in trainer.history.dh_norms)
    assert all(not isinstance(v, torch.Tensor) for col in trainer.history.columns.values() for v in col)


def _holding(lock):
    """A thread that holds `lock` (a step in flight) until the returned event is set."""
    held, release = threading.Event(), threading.Event()

    def hold():
        with lock:
            held.set()
            release.wait(10)

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(5)
    return release


def test_a_page_copies_the_history_without_waiting_for_the_step_in_flight(corpus):
    trainer = Trainer(SMALL, corpus)
    records(trainer, 3)
    release = _holding(trainer.lock)  # the worker is inside a step
    try:
        got = []
        reader = threading.Thread(target=lambda: got.append(trainer.snapshot()), daemon=True)
        reader.start()
        reader.join(2.0)
        assert got, "snapshot() waited for the step lock"
        df, dh, epochs = got[0]
        assert len(df) == 3 and dh.shape == (3, SMALL.num_steps) and list(df["step"]) == [1, 2, 3]
    finally:
        release.set()


def test_writes_answers_at_once_and_the_stepping_thread_writes_the_asked_text(corpus):
    trainer = Trainer(SMALL, corpus)
    records(trainer, 2)
    asked = ("the time", 20, 0.0)
    calls = []
    model_predict = trainer.model.predict
    trainer.model.predict = lambda *a, **k: calls.append(1) or model_predict(*a, **k)
    assert trainer.writes(*asked) == trainer.predict(*asked)  # no step in flight: computed now
    assert trainer.writes(*asked) and len(calls) == 2  # the same step's text is kept, not computed again
    trainer.step()  # the weights moved: the kept text is a step old
    release = _holding(trainer.lock)
    try:
        stale = trainer.writes("other prefix", 20, 0.0)  # a request nobody has answered yet
        assert stale == ""
    finally:
        release.set()
    time.sleep(0.05)
    trainer._sample_at = -math.inf  # as if the last text were older than SAMPLE_SECONDS
    trainer.step()  # the training thread answers the request after its step
    release = _holding(trainer.lock)
    try:
        text = trainer.writes("other prefix", 20, 0.0)
    finally:
        release.set()
    time.sleep(0.05)
    assert text and text == trainer.predict("other prefix", 20, 0.0)  # the text of this very step
    answered = len(calls)
    trainer._sample_at = -math.inf
    trainer.step()  # nobody asked since: the training thread writes nothing more
    assert len(calls) == answered
