"""The Gradient lab page under AppTest: it renders, and the numbers it shows are the library's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from bptt.config import RunConfig
from bptt.data import load_corpus
from bptt.lab import reports as gradlab
from bptt.lab.estimators import choose_k

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


def test_drawing_the_estimators_shows_their_statistics(page):
    page.button(key="btn_lab_draw").click().run(timeout=TIMEOUT)
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


def test_a_link_to_a_run_this_session_does_not_have_shows_the_initialisation():
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params["run"], at.query_params["step"] = "7", "100"
    at.run(timeout=TIMEOUT)
    at.switch_page(PAGE).run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert any("Run #7 is not among this session's runs" in i.value for i in at.info)
    assert at.session_state["lab_weights"] == "init"
    assert any("initialisation" in i.value and "Weights:" in i.value for i in at.info)
