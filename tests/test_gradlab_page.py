"""The Gradient lab page under AppTest: it renders, and the numbers it shows are the library's."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bptt import gradlab
from bptt.data import load_corpus
from bptt.estimators import choose_k

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
    at.button(key="FormSubmitter:lab_settings-Apply").click().run(timeout=TIMEOUT)
    return at


def expected():
    c = load_corpus("bundled", max_tokens=10_000)
    X, Y = gradlab.minibatch(c, 4, 12, 3)
    model = gradlab.init_model(len(c.vocab), 16, 3)
    return gradlab.lag_report(model, X, Y), gradlab.regular_sweep(model, X, Y)


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_page_renders_the_library_numbers(page):
    assert not page.exception, page.exception
    rep, sweep = expected()
    assert metric(page, "share of g from lags > 10") == f"{rep.share_beyond(10):.3g}"
    assert metric(page, "σ_max(W_hh)") == f"{rep.sigma_max:.4g}"
    chosen = choose_k(sweep, 0.05)
    assert metric(page, "smallest k within ε") == ("—" if chosen is None else str(chosen))
    table = page.dataframe[0].value
    assert len(table) == 12 and abs(table["share"].sum() - 1) < 1e-9


def test_drawing_the_estimators_shows_their_statistics(page):
    page.button(key="lab_draw").click().run(timeout=TIMEOUT)
    assert not page.exception, page.exception
    stats = page.dataframe[-1].value
    assert list(stats["strategy"])[:1] == ["regular k=4"]
    assert stats.loc[0, "variance"] == 0.0
    rnd = stats[stats["kind"] == "randomized"]
    assert (rnd["bias"] < 4 * rnd["bias_se"]).all()  # unbiased within Monte Carlo error
    assert (rnd["draws"] == 40).all()
