"""The Gradient lab page under AppTest: it renders, and the numbers it shows are the library's."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from bptt.config import RunConfig
from bptt.corpora import load_corpus
from bptt.lab import lags, moments
from bptt.lab import reports as gradlab
from bptt.lab.estimators import choose_k
from bptt.truncation import ConstantPi, Randomized, Regular

APP = Path(__file__).resolve().parents[1] / "app.py"
PAGE = "pages/gradient_lab.py"
TIMEOUT = 120
SMALL = {"lab_num_steps": 12, "lab_num_hiddens": 16, "lab_batch": 4, "lab_seed": 3, "lab_k": 4}


@pytest.fixture(scope="module")
def page():
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    at.switch_page(PAGE)
    at.run(timeout=TIMEOUT)  # widgets exist only after a first run of the page
    at.radio(key="lab_weights").set_value("init")
    for key, value in SMALL.items():
        at.number_input(key=key).set_value(value)
    at.number_input(key="lab_draws").set_value(40)
    at.button(key="btn_lab_apply").click().run(timeout=TIMEOUT)
    return at


def expected():
    c = load_corpus("bundled", max_tokens=10_000)
    X, Y = gradlab.minibatch(c, 4, 12, 3)
    model = gradlab.init_model(len(c.vocab), 16, 3)
    rep = gradlab.lag_report(model, X, Y, gradlab.lab_strategies(4, (0.5, 0.9), (10.0, 50.0)))
    return rep, gradlab.regular_sweep(model, X, Y)


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_page_renders_the_library_numbers(page):
    assert not page.exception, page.exception
    rep, sweep = expected()
    assert metric(page, "projection share, k > 10") == f"{rep.share_beyond(10):.3g}"
    assert metric(page, "tail norm, k > 10") == f"{rep.norm_beyond(10):.3g}"
    assert metric(page, "σ_max(W_hh)") == f"{rep.sigma_max:.4g}"
    chosen = choose_k(sweep, 0.05)
    assert metric(page, "smallest k within ε") == ("—" if chosen is None else str(chosen))
    table = page.dataframe[0].value
    assert len(table) == 12 and abs(table["share"].sum() - 1) < 1e-9
    exact = page.dataframe[1].value  # the exact table, shown before any draw
    want = rep.exact.set_index("strategy")
    assert list(exact["strategy"]) == [
        "regular (k=4)",
        "randomized (π=0.5)",
        "randomized (π=0.9)",
        "randomized (ARTBP α=3, T0=10)",
        "randomized (ARTBP α=3, T0=50)",
    ]
    assert (exact["bias"].iloc[1:] == 0.0).all() and exact["bias"].iloc[0] == want.loc["regular:4", "bias"]
    assert exact["variance"].iloc[1] == want.loc["randomized:0.5", "variance"] > 0


def draw(at) -> None:
    """Press "Draw the estimators" and rerun the page (as the progress fragment's timer does) until the
    training workers have finished the draws."""
    at.button(key="btn_lab_draw").click().run(timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while any(b.key == "btn_lab_draw_stop" for b in at.button):
        assert time.monotonic() < deadline, "the draws did not finish"
        time.sleep(0.5)
        at.run(timeout=TIMEOUT)


def test_drawing_the_estimators_shows_their_statistics(page):
    draw(page)
    assert not page.exception, page.exception
    stats = page.dataframe[-1].value
    assert list(stats["strategy"])[:1] == ["regular (k=4)"]
    assert stats.loc[0, "variance"] == 0.0
    assert "bias" not in stats  # a sampled bias is Monte Carlo noise: the exact table gives it
    assert (stats["draws"].iloc[1:] == 40).all()
    both = page.dataframe[-2].value  # sampled beside exact
    rep, _sweep = expected()
    exact = rep.exact.set_index("strategy")["mse"]
    keys = ["randomized:0.5", "randomized:0.9", "artbp:3:10", "artbp:3:50"]
    assert list(both["exact_mse"]) == [exact[s] for s in keys]
    assert (both["sampled_mse"] > 0).all() and (both["mse_se"] > 0).all()


# -- a run's weights: from Train to the lab and back --------------------------------------------------

RUN_CFG = RunConfig(
    corpus="bundled", max_tokens=3000, num_hiddens=16, batch_size=4, num_steps=12, epochs=1, truncation="full"
)


@pytest.fixture(scope="module")
def trained():
    """A session whose registry holds one run trained for 30 steps, on the Train page."""
    from bptt.hosting.runs import RunRegistry
    from bptt.training import Trainer

    reg = RunRegistry()
    trainer = Trainer(RUN_CFG, load_corpus("bundled", max_tokens=3000))
    trainer.run_for(60.0, max_steps=30)
    run, _dropped = reg.add(RUN_CFG, trainer)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["registry"] = reg
    at.run(timeout=TIMEOUT)
    at.switch_page("pages/train.py")
    at.run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    return at, run


def test_analyse_opens_the_lab_at_the_runs_latest_weights(trained):
    at, run = trained
    at.button(key="btn_analyse").click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert at.title[0].value == "Gradient lab"
    # AppTest keeps the page it was told (Train) for the next run after a switch_page from the script
    # (a browser follows the switch); tell it, then check that the lab still shows the run.
    at.switch_page(PAGE).run(timeout=TIMEOUT)
    assert at.session_state["lab_weights"] == "run" and at.session_state["lab_run"] == run.id
    assert at.session_state["lab_step"] == 30 == run.trainer.step_count
    # The numbers are those of the run's weights at step 30 on a minibatch of the run's corpus, with
    # the run's num_steps and batch size (seed 0 of the sampler).
    X, Y = gradlab.minibatch(run.trainer.corpus, RUN_CFG.batch_size, RUN_CFG.num_steps, 0)
    model = run.trainer.snapshot_model(30)
    rep, sweep = gradlab.lag_report(model, X, Y), gradlab.regular_sweep(model, X, Y)
    assert metric(at, "σ_max(W_hh)") == f"{rep.sigma_max:.4g}"
    init = gradlab.lag_report(run.trainer.snapshot_model(0), X, Y)
    assert f"{init.sigma_max:.4g}" != f"{rep.sigma_max:.4g}"  # the trained weights, not the initial ones
    shown = at.dataframe[0].value
    assert len(shown) == RUN_CFG.num_steps
    np.testing.assert_allclose(shown["share"], rep.table["share"], rtol=1e-9, atol=1e-15)  # this minibatch
    about = next(a.value for a in at.info if "Weights:" in a.value)
    assert "step 30" in about and "4 × 12 tokens" in about and run.name in about
    # Another kept step: the initialisation of that run.
    at.selectbox(key="lab_step").set_value(0).run(timeout=TIMEOUT)
    assert metric(at, "σ_max(W_hh)") == f"{init.sigma_max:.4g}"
    at.selectbox(key="lab_step").set_value(30).run(timeout=TIMEOUT)
    assert metric(at, "σ_max(W_hh)") == f"{rep.sigma_max:.4g}"
    test_analyse_opens_the_lab_at_the_runs_latest_weights.chosen = choose_k(sweep, 0.05)


def test_train_with_this_k_opens_train_with_regular_k(trained):
    at, run = trained
    chosen = test_analyse_opens_the_lab_at_the_runs_latest_weights.chosen
    assert chosen is not None
    at.button(key="btn_lab_train_k").click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert at.title[0].value == "Train an RNN with BPTT"
    assert at.session_state["cfg_truncation"] == "regular" and at.session_state["cfg_k"] == chosen
    for name in ("num_steps", "batch_size", "num_hiddens", "corpus", "max_tokens", "epochs"):
        assert at.session_state[f"cfg_{name}"] == getattr(RUN_CFG, name), name
    assert at.query_params["k"] == [str(chosen)] or at.query_params["k"] == str(chosen)


def test_a_link_to_a_run_this_session_does_not_have_shows_the_shipped_weights():
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params["run"], at.query_params["step"] = "7", "100"
    at.run(timeout=TIMEOUT)
    at.switch_page(PAGE).run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert any("Run #7 is not among this session's runs" in i.value for i in at.info)
    assert at.session_state["lab_weights"] == "trained"
    assert any("shipped with the lab" in i.value and "Weights:" in i.value for i in at.info)


# -- the shipped trained weights: the lab's first view ------------------------------------------------


def open_lab() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    at.switch_page(PAGE).run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def shipped():
    """The lab as a visitor first sees it, then with randomized π = 0.5 alone (and regular k = 10)."""
    at = open_lab()
    first = {m.label: m.value for m in at.metric}, [i.value for i in at.info], at.session_state["lab_weights"]
    at.multiselect(key="lab_pis").set_value([0.5])
    at.multiselect(key="lab_t0s").set_value([])
    at.button(key="btn_lab_apply").click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    return at, first


def table(at, *columns):
    """The one table the page shows with these columns."""
    (found,) = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    return found


@pytest.fixture(scope="module")
def trained_window():
    c = load_corpus("bundled", max_tokens=10_000)
    X, Y = gradlab.minibatch(c, 32, 35, 0)
    return gradlab.trained_model(), X, Y


def test_the_lab_opens_on_the_shipped_trained_weights(shipped, trained_window):
    at, (metrics, infos, weights) = shipped
    model, X, Y = trained_window
    assert weights == "trained"
    win = lags.forward_window(model, X, Y)
    dec = lags.lag_decomposition(win)
    tail = dec.tail_norms()[list(dec.table()["lag"]).index(10)]  # ‖Σ_(j>10) g_j‖ / ‖g‖
    assert metrics["tail norm, k > 10"] == f"{tail:.3g}"
    assert metrics["σ_max(W_hh)"] == f"{float(torch.linalg.matrix_norm(model.W_hh.detach().double(), 2)):.4g}"
    assert tail > 0.3  # the long-lag gradient that training builds (the initialisation's is ~1e-11)
    about = next(i for i in infos if "Weights:" in i)
    meta = gradlab.trained_meta()
    assert "shipped with the lab" in about and f"perplexity {meta['perplexity']:.3g}" in about
    assert "32 × 35 tokens" in about


def test_the_initial_weights_are_one_click_away():
    at = open_lab()
    trained = {m.label: m.value for m in at.metric}
    at.radio(key="lab_weights").set_value("init").run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    c = load_corpus("bundled", max_tokens=10_000)
    X, Y = gradlab.minibatch(c, 32, 35, 0)
    rep = gradlab.lag_report(gradlab.init_model(len(c.vocab), 256, 0), X, Y)
    assert metric(at, "σ_max(W_hh)") == f"{rep.sigma_max:.4g}" != trained["σ_max(W_hh)"]
    assert any("N(0, 0.01²)" in i.value for i in at.info)


def test_pi_half_on_trained_weights_shows_the_exact_variance_and_the_warning(shipped, trained_window):
    at, _first = shipped
    model, X, Y = trained_window
    mom = moments.Moments(lags.forward_window(model, X, Y))  # without the page's lag decomposition
    half, k10 = mom.of(Randomized(ConstantPi(0.5))), mom.of(Regular(10))
    exact = table(at, "draws_to_see", "bias").set_index("strategy")
    assert list(exact.index) == ["regular (k=10)", "randomized (π=0.5)"]
    assert exact.loc["randomized (π=0.5)", "bias"] == 0.0
    assert math.isclose(exact.loc["randomized (π=0.5)", "variance"], half.variance, rel_tol=1e-9)
    assert math.isclose(exact.loc["regular (k=10)", "bias"], k10.bias, rel_tol=1e-9)
    assert exact.loc["regular (k=10)", "variance"] == 0.0
    assert half.variance > 1e6  # heavy tails: paths of lag k weighted 2^k with probability 2^-k
    assert not at.warning  # no sample yet, no warning
    draw(at)
    assert not at.exception, at.exception
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith("randomized (π=0.5): the 100 draws give")
    assert f"the exact value is {half.mse:.3g}" in warning and "has not met the rare long paths" in warning
    both = table(at, "sampled_mse")
    assert bool(both["short"].iloc[0]) and math.isclose(both["exact_mse"].iloc[0], half.mse, rel_tol=1e-9)
    # The workers drew what the library draws with the same seed, in the same order (float32 draws: a
    # worker thread may split torch's reductions over another number of threads, ~1e-7 apart).
    stats, _cos, _sweep = gradlab.estimator_report(model, X, Y, gradlab.lab_strategies(10, (0.5,)), 100,
                                                   seed=0, with_sweep=False)  # fmt: skip
    shown = table(at, "cos_mean")
    for column in ("variance", "mse", "mse_se", "cos_mean", "cos_min"):
        np.testing.assert_allclose(shown[column], stats[column], rtol=1e-6, err_msg=column)
