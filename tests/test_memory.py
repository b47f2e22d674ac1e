"""Memory that follows the sessions: a run knows the bytes it holds (bptt.training.Trainer.nbytes), a
session's registry is bounded in bytes (bptt/hosting/runs.py), and what a closed session kept is released
and collected (bptt/hosting/sessions.py). Real trainers throughout; the references are independent of
the code under test: the tensors' storages as torch reports them, and tracemalloc for the history."""

from __future__ import annotations

import gc
import time
import tracemalloc
import weakref

import pytest
import torch

from bptt.config import RunConfig
from bptt.data import make_corpus
from bptt.hosting.recordings import load_shipped, shipped
from bptt.hosting.replays import Replay, ReplayRun
from bptt.hosting.runs import MAX_RUNS, SESSION_BYTES, RunRegistry
from bptt.hosting.sessions import Reaper
from bptt.hosting.slots import TrainingSlots
from bptt.hosting.workers import Workers
from bptt.training import Trainer

TEXT = (
    "the time traveller for so it will be convenient to speak of him was expounding a recondite matter " * 30
)


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(TEXT, "tiny")


def cfg(**kw) -> RunConfig:
    base = dict(max_tokens=3_000, num_steps=10, batch_size=4, num_hiddens=32, epochs=2, device="cpu")
    return RunConfig(**{**base, **kw})


def storage_bytes(trainer: Trainer) -> int:
    """Every tensor the run keeps, by its storage: weights, gradients, the last good weights, the
    optimizer's state and the kept snapshots (distinct storages counted once)."""
    tensors = [*trainer.model.parameters(), *trainer._backup]
    tensors += [p.grad for p in trainer.model.parameters() if p.grad is not None]
    tensors += [v for s in trainer.optimizer.state.values() for v in s.values() if torch.is_tensor(v)]
    tensors += [t for snap in trainer.weights.all() for t in snap.params.values()]
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_runs_tensor_bytes_are_what_torch_holds(corpus, optimizer):
    trainer = Trainer(cfg(optimizer=optimizer), corpus)
    trainer.run_for(30.0, max_steps=40)
    assert trainer.step_count == 40
    trainer.history = type(trainer.history)()  # the history apart: the rest is tensors
    assert trainer.nbytes() == storage_bytes(trainer)


def test_the_historys_bytes_match_what_python_allocated(corpus):
    """tracemalloc counts the live Python and numpy allocations made while training (torch's tensors
    are not traced); after 300 steps nearly all of them are the history's floats and arrays."""
    trainer = Trainer(cfg(epochs=50), corpus)
    trainer.run_for(30.0, max_steps=5)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        h0 = trainer.nbytes() - storage_bytes(trainer)
        trainer.run_for(120.0, max_steps=300)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    counted = trainer.nbytes() - storage_bytes(trainer) - h0  # the history's part
    assert trainer.step_count == 305
    assert 0.8 * grown <= counted <= 1.25 * grown, (counted, grown)


def test_the_bound_at_the_end_holds_and_is_not_loose(corpus):
    """A run's bytes at its end, counted before it trained a step, bound what it holds once it has
    trained every epoch, within a factor (the snapshots' cap may not fill up)."""
    for optimizer in ("sgd", "adam"):
        trainer = Trainer(cfg(optimizer=optimizer, epochs=3), corpus)
        bound = trainer.nbytes(at_end=True)
        trainer.run()
        assert trainer.status == "finished" and trainer.step_count > trainer.weights.cap
        assert trainer.nbytes(at_end=True) == trainer.nbytes()  # a finished run grows no more
        assert trainer.nbytes() <= bound <= 1.5 * trainer.nbytes(), (optimizer, trainer.nbytes(), bound)


def test_the_registry_keeps_its_runs_within_the_byte_budget(corpus):
    trainers = [Trainer(cfg(seed=i), corpus) for i in range(5)]
    each = trainers[0].nbytes(at_end=True)
    reg = RunRegistry(budget=int(2.5 * each))  # room for two runs at their end
    first, _ = reg.add(trainers[0].cfg, trainers[0])
    trainers[0].run()  # finished
    second, dropped = reg.add(trainers[1].cfg, trainers[1])
    assert dropped == [] and reg.ids() == [first.id, second.id]
    third, dropped = reg.add(trainers[2].cfg, trainers[2])
    assert dropped == [first] and reg.ids() == [second.id, third.id]  # the finished one went
    assert reg.nbytes() <= reg.budget
    notices = reg.notices(third, dropped)
    assert len(notices) == 1 and first.name in notices[0] and f"{reg.budget / 2**20:.0f} MB" in notices[0]
    # No run finished: the oldest live one goes; the new run is always kept.
    fourth, dropped = reg.add(trainers[3].cfg, trainers[3])
    assert dropped == [second] and reg.ids() == [third.id, fourth.id]


def test_a_run_alone_over_the_budget_is_kept_alone_and_said_so(corpus):
    reg = RunRegistry()
    small = Trainer(cfg(), corpus)
    reg.add(small.cfg, small)
    big = Trainer(cfg(num_hiddens=64, epochs=3), corpus)
    reg.budget = big.nbytes(at_end=True) - 1
    run, dropped = reg.add(big.cfg, big)
    assert reg.list() == [run] and len(dropped) == 1
    notices = reg.notices(run, dropped)
    assert len(notices) == 2 and run.name in notices[1] and "no other run" in notices[1]


def test_the_budget_fits_the_books_comparison():
    """SESSION_BYTES's comment: three runs of the book's experiment (H = 256) at their end fit, with
    room for a fourth; one run at H = 512 fits."""
    from bptt.config import PRESETS
    from bptt.corpora import load_corpus

    book = PRESETS["The book's experiment"]
    text = load_corpus("bundled", tokenizer=book.tokenizer, max_tokens=book.max_tokens)
    each = Trainer(book, text).nbytes(at_end=True)
    assert 4 * each <= SESSION_BYTES < 6 * each
    wide = RunConfig(**{**book.to_dict(), "corpus": "bundled", "num_hiddens": 512})
    assert Trainer(wide, text).nbytes(at_end=True) <= SESSION_BYTES


@pytest.mark.skipif(not shipped(), reason="no shipped recordings")
def test_replays_hold_no_bytes_of_their_own_and_only_the_count_cap_bounds_them():
    reg = RunRegistry(budget=1)
    rec = load_shipped(shipped()[0])
    for _ in range(MAX_RUNS + 2):
        run, dropped = reg.add(rec.cfg, Replay(rec, speed=float("inf")), ReplayRun)
        assert run.nbytes == 0 and len(reg.notices(run, dropped)) == len(dropped)  # none "alone over"
    assert len(reg) == MAX_RUNS and reg.ids() == list(range(3, MAX_RUNS + 3))


# -- the reaper ----------------------------------------------------------------------------------------


class Holder:
    def __init__(self):
        self.released = 0

    def release(self):
        self.released += 1


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_session_away_longer_than_the_grace_is_released_and_memory_given_back():
    clock, trims = Clock(), []
    reaper = Reaper(30.0, clock=clock, sweep_seconds=0, release=lambda: trims.append(clock.now))
    a, b = Holder(), Holder()
    reaper.attach("s", a, b)
    reaper.attach("s", a)  # attached again on every page run: kept once
    reaper.attach("t", Holder())
    reaper.away("s")
    clock.now = 29.9
    assert reaper.sweep() == 0 and a.released == 0 and trims == []
    clock.now = 30.0
    assert reaper.sweep() == 1 and (a.released, b.released) == (1, 1) and trims == [30.0]
    assert reaper.sweep() == 0 and a.released == 1  # released once; the other session untouched


def test_a_session_that_comes_back_within_the_grace_keeps_its_runs():
    clock = Clock()
    reaper = Reaper(30.0, clock=clock, sweep_seconds=0, release=lambda: None)
    h = Holder()
    reaper.attach("s", h)
    reaper.away("s")
    clock.now = 10.0
    reaper.back("s")  # the websocket reconnected
    clock.now = 100.0
    assert reaper.sweep() == 0 and h.released == 0


def test_the_reaper_keeps_nothing_alive():
    reaper = Reaper(30.0, sweep_seconds=0, release=lambda: None)
    h = Holder()
    ref = weakref.ref(h)
    reaper.attach("s", h)
    del h
    gc.collect()
    assert ref() is None
    reaper.sweep()
    assert reaper.sessions() == 0


def test_a_closed_sessions_trainer_is_collected_once_released_and_its_lease_lapsed(corpus):
    """The whole path: a run in a session's registry, trained by the workers, the session closes (its
    page stops renewing the lease, the reaper releases the registry): nothing else keeps the trainer."""
    pool = Workers(TrainingSlots(capacity=1, stale_after=100), slice_seconds=0.05, lease=0.5)
    reaper = Reaper(0.2, sweep_seconds=0)
    reg = RunRegistry()
    c = cfg(epochs=100)
    run, _ = reg.add(c, Trainer(c, corpus))
    trainer = weakref.ref(run.trainer)
    reaper.attach("s", reg)
    pool.reconcile("s", "train", run, running=True)
    deadline = time.monotonic() + 30
    while run.trainer.step_count < 5:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    del run
    reaper.away("s")  # the tab closed: no page run renews the lease from here
    deadline = time.monotonic() + 10
    while pool.entries() or reaper.sweep() == 0 and reaper.sessions():
        assert time.monotonic() < deadline, "the pool kept the entry or the reaper the session"
        time.sleep(0.05)
    reaper.sweep()
    gc.collect()
    assert len(reg) == 0
    assert trainer() is None, gc.get_referrers(trainer())


def test_an_idle_worker_ends_and_the_next_wish_starts_another(corpus, monkeypatch):
    """A thread that trained keeps per-thread memory until it ends: an idle one ends."""
    from bptt.hosting import workers

    monkeypatch.setattr(workers, "IDLE_EXIT_SECONDS", 0.3)
    pool = Workers(TrainingSlots(capacity=1, stale_after=100), slice_seconds=0.05, lease=60.0)
    c = cfg(epochs=100)
    job, _ = RunRegistry().add(c, Trainer(c, corpus))
    trainer = job.trainer
    pool.reconcile("s", "train", job, running=True)
    deadline = time.monotonic() + 30
    while trainer.step_count < 3:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    (thread,) = pool._threads
    pool.reconcile("s", "train", job, running=False)
    thread.join(10)
    assert not thread.is_alive() and pool._threads == []
    held = trainer.step_count
    pool.reconcile("s", "train", job, running=True)
    while trainer.step_count <= held:
        assert time.monotonic() < deadline + 30, "no worker came back"
        time.sleep(0.02)
    pool.reconcile("s", "train", job, running=False)  # no thread left inside torch at exit


def test_a_download_button_holds_its_run_weakly():
    """Streamlit keeps a page's deferred downloads until the session shuts down (which a closed tab's
    may never do): the callable must not keep the run alive."""
    from pages.ui.runs import deferred

    class Run:
        name = "#1 full"

    run = Run()
    make = deferred(run, lambda r: r.name)
    assert make() == "#1 full"
    ref = weakref.ref(run)
    del run
    gc.collect()
    assert ref() is None and make() == ""
