"""The trainer's weight snapshots: the weights they hold are those of an identically seeded trainer after
as many steps, their number and memory stay bounded, and reading them waits for the trainer's lock."""

import threading
import time

import pytest
import torch

from bptt import RunConfig, Trainer
from bptt.corpora import load_corpus
from bptt.lab.reports import init_model
from bptt.snapshots import MAX_BYTES, MAX_SNAPSHOTS, Snapshots, cap_for

SMALL = RunConfig(
    corpus="bundled", max_tokens=3000, num_hiddens=24, batch_size=8, num_steps=10, epochs=3, device="cpu"
)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("bundled", max_tokens=3000)


def same_weights(model, other) -> bool:
    a, b = dict(model.named_parameters()), dict(other.named_parameters())
    return a.keys() == b.keys() and all(torch.equal(a[n].detach(), b[n].detach()) for n in a)


def test_a_snapshot_holds_the_weights_after_that_many_steps(corpus):
    cfg = SMALL.replace(truncation="randomized", schedule="constant", pi=0.8)
    a = Trainer(cfg, corpus)
    a.weights = Snapshots(cap=5)  # small, so that thinning happens within the test
    a.weights.add(a._take_snapshot())
    a.run_for(60.0, max_steps=37)
    kept = [s for s, _meta in a.snapshots()]
    assert kept[0] == 0 and len(kept) <= 5 and len(kept) >= 3
    b = Trainer(cfg, corpus)  # the reference: an identically seeded trainer, stepped to each kept step
    for step in kept:
        while b.step_count < step:
            b.step()
        assert same_weights(a.snapshot_model(step), b.model), step
        meta = dict(a.snapshots())[step]
        assert meta["step"] == step and meta["epoch"] == pytest.approx(b.progress * cfg.epochs)


def test_the_first_snapshot_is_the_books_initialisation(corpus):
    t = Trainer(SMALL, corpus)
    t.run_for(60.0, max_steps=3)
    init = init_model(len(corpus.vocab), SMALL.num_hiddens, SMALL.seed)  # built independently
    assert same_weights(t.snapshot_model(0), init)
    assert not same_weights(t.model, init)  # it trained: the snapshot is a copy, not the live weights


def test_the_cap_holds_and_the_kept_steps_stay_evenly_spread(corpus):
    t = Trainer(SMALL.replace(epochs=10), corpus)
    t.weights = Snapshots(cap=6)
    t.weights.add(t._take_snapshot())
    for n in range(1, 130):
        t.step()
        assert t.step_count == n
        steps = [s for s, _ in t.snapshots()]
        assert len(steps) <= 6, (n, steps)
        every = t.weights.every
        assert steps == list(range(0, n + 1, every)), (n, steps)  # 0, every, 2·every, ... up to n
        assert len(steps) >= min(n + 1, 6 // 2)  # thinning drops about half, never more


def test_pinning_keeps_the_latest_weights(corpus):
    t = Trainer(SMALL, corpus)
    t.weights = Snapshots(cap=4)
    t.weights.add(t._take_snapshot())
    t.run_for(60.0, max_steps=13)
    assert t.pin_snapshot() == 13 and 13 in dict(t.snapshots())
    live = {n: p.detach().clone() for n, p in t.model.named_parameters()}
    t.run_for(60.0, max_steps=20)  # 13 is no multiple of the spacing: it stays as the pinned copy
    assert 13 % t.weights.every != 0 and 13 in dict(t.snapshots())
    pinned = dict(t.snapshot_model(13).named_parameters())
    assert all(torch.equal(pinned[n].detach(), live[n]) for n in live)
    with pytest.raises(KeyError):
        t.snapshot_model(14)


def test_reading_a_snapshot_waits_for_the_trainers_lock(corpus):
    """snapshot_model runs under the lock that step() holds, so it never reads half-updated weights."""
    t = Trainer(SMALL, corpus)
    got = []
    with t.lock:  # as step() holds it while the optimizer writes the weights
        reader = threading.Thread(target=lambda: got.append(t.snapshot_model(0)))
        reader.start()
        time.sleep(0.3)
        assert reader.is_alive() and not got
    reader.join(10)
    assert got and same_weights(got[0], t.model)


def test_memory_stays_bounded_at_h512():
    """H=512 with the book's 28 letters: 24 copies, 1.2 MB each, 28 MB in all, under MAX_BYTES (40 MB);
    a 2,000-token vocabulary makes a copy 9.3 MB, and then fewer copies are kept, still under 40 MB."""
    corpus = load_corpus("bundled", max_tokens=3000)
    cfg = SMALL.replace(num_hiddens=512, batch_size=2, num_steps=4, epochs=50)
    t = Trainer(cfg, corpus)
    t.run_for(120.0, max_steps=60)
    assert t.weights.cap == MAX_SNAPSHOTS
    assert len(t.snapshots()) <= MAX_SNAPSHOTS
    t.pin_snapshot()
    V, H = len(corpus.vocab), 512
    per_copy = 4 * (V * H + H * H + H + H * V + V)
    assert t.weights.nbytes <= (MAX_SNAPSHOTS + 1) * per_copy < MAX_BYTES
    big = 4 * (2000 * H + H * H + H + H * 2000 + 2000)
    assert cap_for(big) * big <= MAX_BYTES and cap_for(big) >= 2
