"""The Gradient lab's estimator draws as a job of the training workers (bptt.lab.reports.EstimatorDraws in
the pool of bptt/hosting/workers.py, pages/ui/lab_draws.py on the page): the numbers of one call with the
same seed, however the work is sliced, paused or resumed; a stopped job leaves the workers at once; and on
the page a click in the middle of the draws loses nothing."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from bptt.corpora import load_corpus
from bptt.hosting.slots import TrainingSlots
from bptt.hosting.workers import Workers
from bptt.lab import reports as gradlab

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT = 120
STRATEGIES = gradlab.lab_strategies(3, (0.7,), (10.0,))  # regular:3, randomized:0.7, artbp:3:10


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def window():
    c = load_corpus("bundled", max_tokens=3000)
    X, Y = gradlab.minibatch(c, 4, 10, 2)
    return gradlab.init_model(len(c.vocab), 16, 2), X, Y


@pytest.fixture
def pool():
    return Workers(TrainingSlots(capacity=2, quantum=0.2, stale_after=100), slice_seconds=0.02, lease=5.0)


def job(window, draws: int = 300) -> gradlab.EstimatorDraws:
    model, X, Y = window
    return gradlab.EstimatorDraws(model, X, Y, STRATEGIES, draws, seed=5)


def reference(window, draws: int = 300):
    model, X, Y = window
    stats, cos, _sweep = gradlab.estimator_report(model, X, Y, STRATEGIES, draws, seed=5, with_sweep=False)
    return stats, cos


def same(result, ref, exact: bool = True) -> None:
    """The same statistics: bit for bit in one thread; from a worker thread, whose torch reductions may
    be split over another number of threads, to float32's rounding (~1e-7, far below the draws' own
    Monte Carlo error). The gates, and so the draws, are the same either way."""
    stats, cos = result
    rtol = 0 if exact else 1e-6
    pd.testing.assert_frame_equal(stats, ref[0], check_exact=exact, rtol=rtol or 1e-5)
    assert cos.keys() == ref[1].keys()
    for label in cos:
        np.testing.assert_allclose(cos[label], ref[1][label], rtol=rtol, atol=0)


def test_a_job_advanced_by_hand_draws_what_one_call_draws(window):
    j = job(window)
    seen = []
    while not j.finished:
        j.advance(0.0)
        seen.append(j.fraction)
    assert j.error is None and seen[-1] == 1.0 and seen == sorted(seen)
    same(j.result, reference(window))


def test_small_chunks_go_in_several_advances(window, monkeypatch):
    monkeypatch.setattr(gradlab.estimators, "CHUNK_BYTES", 10 * 4 * 16 * 4 * 2 * 25)  # 25 draws a chunk
    j = job(window)
    while not j.finished:
        j.advance(0.0)
    # the forward pass, regular's one draw, 300 draws in 12 chunks twice, and the end with the result
    assert j.advances == 1 + 1 + 2 * 12 + 1
    same(j.result, reference(window))


def test_the_workers_draw_it_in_slices_and_the_numbers_are_the_same(window, pool, monkeypatch):
    monkeypatch.setattr(gradlab.estimators, "CHUNK_BYTES", 10 * 4 * 16 * 4 * 2 * 25)
    j = job(window)
    pool.reconcile("s", "lab_draws", j, True)
    wait_for(lambda: j.fraction > 0.3)
    pool.reconcile("s", "lab_draws", j, False)  # paused (a Stop, or the tab closed): the job keeps its place
    held = j.advances
    time.sleep(0.2)
    assert j.advances == held and not j.finished
    pool.reconcile("s", "lab_draws", j, True)  # resumed
    wait_for(lambda: j.finished)
    assert j.error is None
    same(j.result, reference(window), exact=False)
    wait_for(lambda: pool.entries() == 0)


def test_a_stopped_job_leaves_the_workers_at_once(window, pool, monkeypatch):
    """The page stops the draws by setting `stopped` (its settings changed, or Stop): the workers must
    drop the job, not keep calling it."""
    monkeypatch.setattr(gradlab.estimators, "CHUNK_BYTES", 10 * 4 * 16 * 4 * 2 * 5)
    j = job(window, draws=2000)
    pool.reconcile("s", "lab_draws", j, True)  # leased for 5 s
    wait_for(lambda: j.advances >= 3)
    j.stopped = True
    wait_for(lambda: pool.entries() == 0, timeout=2.0)
    calls = j.advances
    time.sleep(0.3)
    assert j.advances == calls and j.result is None and j.fraction < 1.0
    assert pool.slots.request("other").granted  # its slot is free for others


def test_a_draw_budget_over_the_hosts_is_refused_when_the_job_is_made(window):
    _model, X, Y = window
    big = gradlab.init_model(28, 512, 0)  # 40 strategies x 2,000 draws x 40 tokens x 512² > MAX_DRAW_WORK
    with pytest.raises(ValueError, match="times what this host allows"):
        gradlab.EstimatorDraws(big, X, Y, gradlab.lab_strategies(1, (0.5,) * 40)[1:], 2000)


def test_a_failing_job_reports_its_error_and_finishes(window):
    j = job(window)

    def broken():
        raise RuntimeError("simulated")
        yield  # a generator

    j._steps = broken()
    with pytest.raises(RuntimeError):
        j.advance(0.0)
    assert j.finished and isinstance(j.error, RuntimeError) and j.result is None


# -- on the page ------------------------------------------------------------------------------------

MID = {"lab_num_steps": 35, "lab_num_hiddens": 256, "lab_batch": 32, "lab_seed": 1, "lab_k": 5}


def test_a_click_in_the_middle_of_the_draws_loses_nothing():
    """Draw 600 times (7 chunks at H = 256); mid-way press Stop, press Apply, then Draw again: the
    draws go on from where they stopped and give what one call with the same seed gives."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    at.switch_page("pages/gradient_lab.py").run(timeout=TIMEOUT)
    at.radio(key="lab_weights").set_value("init")
    for key, value in MID.items():
        at.number_input(key=key).set_value(value)
    at.number_input(key="lab_draws").set_value(600)
    at.multiselect(key="lab_pis").set_value([0.9])
    at.multiselect(key="lab_t0s").set_value([])
    at.button(key="btn_lab_apply").click().run(timeout=TIMEOUT)
    at.button(key="btn_lab_draw").click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    record = at.session_state["lab_draw_job"]
    deadline = time.monotonic() + TIMEOUT
    while record.job.fraction <= 0.5:  # past the regular draw, into π = 0.9's 7 chunks
        assert time.monotonic() < deadline, "the draws did not start"
        at.run(timeout=TIMEOUT)  # page runs while the workers draw: they renew the lease, nothing else
    at.button(key="btn_lab_draw_stop").click().run(timeout=TIMEOUT)
    drawing = record.job
    time.sleep(0.1)
    with drawing.lock:  # a chunk in flight when Stop landed ends first (a pause acts between chunks)
        stopped_at = drawing.fraction
    assert 0 < stopped_at < 1 and not record.job.finished
    assert any("The draws stopped at" in i.value for i in at.info)
    at.button(key="btn_lab_apply").click().run(timeout=TIMEOUT)  # another click: nothing changes
    assert at.session_state["lab_draw_job"] is record and record.job.fraction == stopped_at
    at.button(key="btn_lab_draw").click().run(timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while any(b.key == "btn_lab_draw_stop" for b in at.button):
        assert time.monotonic() < deadline
        time.sleep(0.5)
        at.run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert record.job is drawing and drawing.result is not None  # the same job went on
    c = load_corpus("bundled", max_tokens=10_000)
    X, Y = gradlab.minibatch(c, 32, 35, 1)
    stats, _cos, _ = gradlab.estimator_report(gradlab.init_model(len(c.vocab), 256, 1), X, Y,
                                              gradlab.lab_strategies(5, (0.9,)), 600, seed=1,
                                              with_sweep=False)  # fmt: skip
    shown = next(d.value for d in at.dataframe if "cos_mean" in d.value.columns)
    assert list(shown["draws"]) == [1, 600]
    for column in ("variance", "mse", "mse_se", "cos_mean", "cos_min"):
        np.testing.assert_allclose(shown[column], stats[column], rtol=1e-6, err_msg=column)
