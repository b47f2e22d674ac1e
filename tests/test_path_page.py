"""The guided path (pages/path.py) under AppTest, every step in both languages: the step's equation with
the book's number, its figure drawn, and the numbers on the figure and beside it equal to the library's
(bptt.path's recursion and powers, bptt.segmentation), redrawn when a slider moves; its button opens the page
it names with the settings it says; in Chinese no English is left."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from i18n_check import english_left
from streamlit.testing.v1 import AppTest

from bptt.i18n import use_language
from bptt.path import powers, recursion
from bptt.segmentation import TIME_MACHINE_OPENING, book_figure_rows
from pages.ui.path import STEPS

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 60
T, K, DRAWS = 50, 60, 2000  # pages/ui/path_steps.py, path_powers.py
TAGS = {"recursion": ["8.7.4", "8.7.7"], "full": ["8.7.7"], "randomized": ["8.7.8"],
        "powers": ["8.7.14", "8.7.15"]}  # fmt: skip


def open_path(lang: str = "en", step: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["lang"] = lang
    at.run()
    if step is not None:
        at.query_params["step"] = step
    return at.switch_page("pages/path.py").run()


def figure(at: AppTest, step: str) -> dict:
    key = f"chart_path_{step}"
    chart = next(c for c in at.get("plotly_chart") if key in c.proto.id)
    return json.loads(chart.proto.spec)


def values(v) -> np.ndarray:
    """A trace's array, as Plotly's JSON holds it: a list or a typed array in base64."""
    if isinstance(v, dict) and "bdata" in v:
        out = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        return out.reshape(v["shape"]) if "shape" in v and isinstance(v["shape"], list) else out
    return np.array(v, dtype=float)


def positive(v: np.ndarray) -> np.ndarray:
    """What a log axis can show: |v|, zeros as gaps (nan)."""
    return np.where(np.abs(v) > 0, np.abs(v), np.nan)


def metric(at: AppTest, index: int = 0) -> str:
    return at.metric[index].value


def scalar_rnn(w: float = 1.0, tanh: bool = True) -> recursion.ScalarRNN:
    return recursion.ScalarRNN(w, recursion.default_inputs(T), activation="tanh" if tanh else "identity")


def matrix(l1: float = 1.1, l2: float = 0.9):
    lams = powers.eigenvalues(l1, l2)
    W, V = powers.symmetric_matrix(lams)
    return lams, W, V


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("step", list(STEPS))
def test_each_step_draws_its_equation_and_figure(step, lang):
    at = open_path(lang, step)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    with use_language(lang):
        from bptt.i18n import _

        assert at.header[0].value == _(STEPS[step])
    fig = figure(at, step)
    assert fig["data"] and all(len(values(t["y"] if "y" in t else t["z"])) for t in fig["data"] if "y" in t)
    latex = "\n".join(el.value for el in at.latex)
    for tag in TAGS.get(step, []):
        assert f"({tag})" in latex, (step, tag)
    assert at.info, "the sentence on what to look for"
    if lang == "zh":
        assert english_left(at, allowed={"tanh", "cos", "tan"}) == [], step
    for axis, spec in fig["layout"].items():  # log axes as powers of ten
        if axis.startswith(("xaxis", "yaxis")) and spec.get("type") == "log":
            assert spec.get("exponentformat") == "power", (step, axis)


def test_recursion_terms_are_the_librarys_and_follow_the_slider():
    at = open_path(step="recursion")
    terms = recursion.unrolled_terms(scalar_rnn())
    np.testing.assert_allclose(values(figure(at, "recursion")["data"][0]["y"]), positive(terms), rtol=1e-12)
    assert metric(at) == f"{terms.sum():.4g}"
    at.slider(key="ui_path_w").set_value(1.2).run()
    at.toggle(key="ui_path_tanh_scalar").set_value(False).run()
    terms = recursion.unrolled_terms(scalar_rnn(1.2, tanh=False))
    np.testing.assert_allclose(values(figure(at, "recursion")["data"][0]["y"]), positive(terms), rtol=1e-12)
    assert metric(at) == f"{terms.sum():.4g}"


def test_full_regular_and_randomized_numbers_are_the_librarys():
    at = open_path(step="full")
    a = recursion.gradient_path(scalar_rnn())
    b = recursion.gradient_path(scalar_rnn(1.01))
    assert metric(at) == f"{100 * abs(b[-1] - a[-1]) / abs(a[-1]):.3g}%"
    np.testing.assert_allclose(values(figure(at, "full")["data"][0]["y"]), positive(a), rtol=1e-12)

    at.radio(key="ui_path_step").set_value("regular").run()
    at.slider(key="ui_path_tau").set_value(5).run()
    rnn = scalar_rnn()
    full = recursion.gradient_path(rnn)[-1]
    assert metric(at) == f"{abs(recursion.truncated_gradient(rnn, 5) - full) / abs(full):.3g}"

    at.radio(key="ui_path_step").set_value("randomized").run()
    at.slider(key="ui_path_pi").set_value(0.5).run()
    mean, se = recursion.running_mean(recursion.randomized_draws(rnn, 0.5, DRAWS))
    assert metric(at, 0) == f"{mean[-1]:.4g} ± {se[-1]:.2g}" and metric(at, 1) == f"{full:.4g}"
    assert abs(mean[-1] - full) < 4 * se[-1]  # what the figure shows: the mean settles on the full value


def test_the_comparison_draws_fig_8_7_1_from_the_librarys_cuts():
    at = open_path(step="comparison")
    rows = book_figure_rows(len(TIME_MACHINE_OPENING), 0.9, 10, 0)
    heat = figure(at, "comparison")["data"][0]
    segments = values(heat["z"]).reshape(len(rows), -1)
    for got, xi in zip(segments, rows.values(), strict=True):
        cut = xi == 0
        cut[0] = True
        np.testing.assert_array_equal(got, (np.cumsum(cut) - 1) % 2)  # shading alternates at each cut
    counts = [int((xi == 0).sum()) for xi in rows.values()]
    assert [m.value for m in at.metric] == [f"{n} segment" + ("s" if n != 1 else "") for n in counts]
    assert metric(at, 1) == f"{-(-len(TIME_MACHINE_OPENING) // 10)} segments" and metric(at, 2) == "1 segment"
    at.button(key="btn_path_redraw").click().run()
    again = book_figure_rows(len(TIME_MACHINE_OPENING), 0.9, 10, 1)
    assert metric(at, 0) == f"{int((next(iter(again.values())) == 0).sum())} segments"


def test_powers_follow_the_eigenvalue_sliders_and_tanh():
    at = open_path(step="powers")
    _lams, W, _V = matrix()
    assert metric(at, 0) == f"{powers.power_norms(W, K)[-1]:.3g}"
    assert metric(at, 1) == f"{powers.jacobian_norms(W, K, 'tanh')[-1]:.3g}"
    at.slider(key="ui_path_lambda1").set_value(1.3).run()
    _lams, W, _V = matrix(1.3)
    assert metric(at, 0) == f"{1.3**K:.3g}"  # symmetric: ‖(W_hhᵀ)^k‖₂ = |λ₁|^k
    np.testing.assert_allclose(values(figure(at, "powers")["data"][0]["y"]), powers.power_norms(W, K))
    at.toggle(key="ui_path_tanh").set_value(False).run()
    assert len(figure(at, "powers")["data"]) == 1 and len(at.metric) == 1


def test_exercises_show_the_librarys_alignment_and_remedies():
    at = open_path(step="exercise1")
    lams, W, V = matrix()
    xs = np.random.default_rng(0).standard_normal((20, len(lams)))
    cos, _tan = powers.alignment(W, V[:, 0], xs, K)
    assert metric(at) == f"{np.median(cos[:, -1]):.4f}"
    at.radio(key="ui_path_step").set_value("exercise2").run()
    curves = powers.remedies(W, K, 10)
    data = figure(at, "exercise2")["data"]
    for trace, (key, want) in zip(data, curves.items(), strict=True):
        got = values(trace["y"])
        np.testing.assert_allclose(got, np.where(want > 0, want, np.nan), rtol=1e-12, err_msg=key)


def test_buttons_open_train_lab_and_compare_with_their_settings():
    at = open_path(step="regular")
    at.slider(key="ui_path_tau").set_value(7).run()
    at.button(key="btn_path_go_regular").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Train an RNN with BPTT"
    assert at.session_state["cfg_truncation"] == "regular" and at.session_state["cfg_k"] == 7
    assert at.session_state["cfg_num_steps"] == 35 and at.session_state["cfg_lr"] == 1.0  # the book's

    at = open_path(step="exercise2")
    at.button(key="btn_path_go_exercise2").click().run()
    assert at.title[0].value == "Train an RNN with BPTT" and at.session_state["cfg_clip"] == 0.0

    at = open_path(step="powers")
    at.button(key="btn_path_go_powers").click().run()
    assert at.title[0].value == "Gradient lab"

    at = open_path(step="comparison")
    at.button(key="btn_path_go_comparison").click().run()
    assert at.title[0].value == "Compare truncation strategies"


def test_previous_and_next_walk_the_book_order_and_a_bad_step_link_opens_the_first():
    at = open_path(step="nonsense")
    assert not at.exception and at.session_state["ui_path_step"] == "recursion"
    seen = [at.session_state["ui_path_step"]]
    for _ in list(STEPS)[1:]:
        at.button(key="btn_path_next").click().run()
        seen.append(at.session_state["ui_path_step"])
    assert seen == list(STEPS)
    assert at.button(key="btn_path_next").disabled
    at.button(key="btn_path_prev").click().run()
    assert at.session_state["ui_path_step"] == "exercise1"


def test_home_links_to_the_path():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert [link.proto.page for link in at.get("page_link")][0] == "path"  # the first way in
