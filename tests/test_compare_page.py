"""The Compare page under AppTest: the shipped results at once (the table equals the library's summary
of the shipped JSON), a live comparison trained by the training workers while the test reruns the page
(AppTest never fires `run_every`: each `.run()` stands for one timer run of the panel), Pause holds it,
Stop ends it, the Show choice, the exports."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import control_key, press, wait_until
from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT, tick

from bptt.compare.results import load_shipped
from bptt.compare.stats import summary
from bptt.hosting.slots import shared_slots
from bptt.truncation import Strategy

PAGE = "pages/compare.py"


@pytest.fixture(autouse=True)
def free_slots():
    yield shared_slots(capacity=64)


def open_compare(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    for k, v in state.items():
        at.session_state[k] = v
    at.switch_page(PAGE).run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    return at


CMP = "ui_cmp_run_"


def live(at: AppTest):
    return at.session_state["cmp_lane"].latest[1]


def shown_table(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def chart(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


@pytest.mark.parametrize("task", ["time_machine", "synthetic"])
def test_opens_with_the_shipped_results(task):
    at = open_compare(ui_cmp_task=task)
    data = load_shipped(task)
    expected = summary(data["runs"], data["metric"])
    table = shown_table(at)
    name = "recall perplexity" if task == "synthetic" else "perplexity"
    shown = {"strategy": "strategy", "n": "seeds", "mean": f"final {name}, mean", "sd": "± sd",
             "diverged": "diverged", "clipped_fraction": "clipped fraction"}  # fmt: skip
    assert list(table.columns) == list(shown.values()), "human headers, and no speed column"
    assert list(table[shown["strategy"]]) == [Strategy.title_of(s) for s in expected["strategy"]]
    for col in ("mean", "sd", "clipped_fraction"):
        got = table[shown[col]].to_numpy(float)
        np.testing.assert_allclose(got, expected[col].to_numpy(float), rtol=1e-12)
    assert list(table[shown["diverged"]]) == list(expected["diverged"])
    assert list(table[shown["n"]]) == list(expected["n"])
    # The chart: one mean line per strategy (and two band edges), titled with the seeds and the band.
    spec = chart(at)
    names = [t.get("name") for t in spec["data"] if t.get("name")]
    seeds = len(data["spec"]["seeds"])
    assert names == [f"{Strategy.title_of(s)} (n={seeds})" for s in expected["strategy"]]
    assert f"Mean of {seeds} seeds" in spec["layout"]["title"]["text"]
    assert "min–max" in spec["layout"]["title"]["text"]
    assert sum(len(t["x"]) for t in spec["data"]) <= 2000
    captions = " ".join(c.value for c in at.caption)
    assert data["machine"]["date"][:10] in captions and "shared, loaded machine" in captions
    assert "the table shows no speed" in captions
    if task == "time_machine":
        assert "Corpus: The Time Machine" in captions
    verdict = at.markdown[-1].value
    assert "Best mean final" in verdict


def test_the_table_headers_are_in_the_readers_language():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["lang"] = "zh"
    at.run(timeout=TIMEOUT)
    at.switch_page(PAGE).run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    headers = list(shown_table(at).columns)
    assert headers[:2] == ["策略", "随机种子数"], headers
    assert all("_" not in h and not h.isascii() for h in headers if h != "± sd"), headers


def test_the_show_radio_switches_between_shipped_and_live():
    """The Show radio edits the shown results (one radio per live comparison: a new one starts shown)."""
    at = open_compare()
    at.radio(key="ui_cmp_show_0").set_value("live").run(timeout=TIMEOUT)
    assert at.session_state["cmp_show"] == "live"
    assert "No live comparison yet" in " ".join(i.value for i in at.info)
    at.radio(key="ui_cmp_show_0").set_value("shipped").run(timeout=TIMEOUT)
    assert at.session_state["cmp_show"] == "shipped"
    assert "Shipped results" in " ".join(c.value for c in at.caption)


def test_band_and_axis_toggles_change_the_chart():
    at = open_compare()
    at.radio(key="ui_cmp_band").set_value("sd").run(timeout=TIMEOUT)
    at.radio(key="ui_cmp_x").set_value("wall_time").run(timeout=TIMEOUT)
    spec = chart(at)
    assert "±1 sd" in spec["layout"]["title"]["text"]
    assert spec["layout"]["xaxis"]["title"]["text"] == "training time (s)"


TINY = {"ui_cmp_task": "synthetic", "ui_cmp_strategies_synthetic": ["full", "regular:4"], "ui_cmp_seeds": 1,
        "ui_cmp_epochs_synthetic": 3, "ui_cmp_H_synthetic": 16}  # fmt: skip


def test_live_comparison_ticks_pauses_resumes_and_stops():
    at = open_compare(**{**TINY, "ui_cmp_budget": "seconds", "ui_cmp_seconds": 60})  # 2 minutes
    press(at, "running", CMP)
    lc = live(at)
    assert at.session_state["cmp_phase"] == "running"
    assert at.session_state["cmp_show"] == "live"
    assert at.radio(key="ui_cmp_show_1").value == "live", "a new comparison is not shown"
    before = lc.comparison.progress
    wait_until(at, lambda: lc.comparison.progress > before, what="the workers to advance the comparison")
    press(at, "paused", CMP)
    held = lc.comparison.progress
    tick(at, 3)
    assert lc.comparison.progress == held, "a paused comparison trained"
    press(at, "running", CMP)
    wait_until(at, lambda: lc.comparison.progress > held, what="Resume to train again")
    press(at, "stopped", CMP)
    held = lc.comparison.progress
    assert lc.finished and at.session_state["cmp_phase"] == "idle"
    tick(at, 2)
    assert lc.comparison.progress == held, "a stopped comparison trained"
    assert "stopped" in " ".join(c.value for c in at.caption)
    assert control_key(at, CMP) == "ui_cmp_run_2", "Stop hands the control to the next comparison"
    assert at.session_state["cmp_show"] == "live", "the stopped comparison stays shown"


def test_live_comparison_runs_to_the_end_and_fills_the_table():
    at = open_compare(**TINY)
    press(at, "running", CMP)
    lc = live(at)
    wait_until(at, lambda: lc.comparison.done, timeout=120, what="the comparison to end")
    tick(at)
    assert at.session_state["cmp_phase"] == "idle"
    table = shown_table(at)
    assert list(table["strategy"]) == ["full within each window", "regular (k=4)"]
    expected = summary(lc.comparison.runs(), "recall_perplexity")
    got = table["final recall perplexity, mean"].to_numpy(float)
    np.testing.assert_allclose(got, expected["mean"].to_numpy(float))
    assert at.get("progress")[0].proto.value == 100
    assert "all 2 runs finished" in " ".join(c.value for c in at.caption)


def test_too_many_runs_are_refused_politely():
    strategies = ["full", "regular:4", "regular:8", "randomized:0.9", "randomized:0.5"]
    at = open_compare(**{**TINY, "ui_cmp_strategies_synthetic": strategies, "ui_cmp_seeds": 3})
    press(at, "running", CMP)
    assert at.session_state["cmp_lane"].latest is None
    assert any("At most 12 runs" in e.value for e in at.error)


def test_exports_are_the_files_the_cli_writes():
    from pages.ui import compare as cmp

    at = open_compare()
    buttons = at.get("download_button")
    assert len(buttons) == 2
    data = json.loads(cmp.shipped_bytes("time_machine", ".json"))
    assert data["corpus"] == "The Time Machine" and data["spec"]["base"]["corpus"] == "time_machine"
    curves = pd.read_csv(io.BytesIO(cmp.shipped_bytes("time_machine", ".csv")))
    assert len(curves) == len(data["curves"])
    # A live comparison exports results(comparison) as JSON and its curves as CSV (bptt.compare.results).
    at = open_compare(**{**TINY, "ui_cmp_epochs_synthetic": 1})
    press(at, "running", CMP)
    lc = live(at)
    wait_until(at, lambda: lc.comparison.done, timeout=120, what="the comparison to end")
    from bptt.compare.results import curves_csv, results, results_json

    out = json.loads(results_json(results(lc.comparison)))
    assert [r["strategy"] for r in out["runs"]] == ["full", "regular:4"]
    assert all(math.isfinite(r["recall_perplexity"]) for r in out["runs"])
    assert pd.read_csv(io.StringIO(curves_csv(out)))["strategy"].tolist()[0] == "full"


def test_a_show_choice_that_races_start_is_kept():
    """Start and a Show click in one request (the second click's request carried both values), or the
    Show click on the radio that Start's run replaced: the Show choice, the later click, wins."""
    at = open_compare(**{**TINY, "ui_cmp_budget": "seconds", "ui_cmp_seconds": 60})
    at.radio(key="ui_cmp_show_0").set_value("live").run(timeout=TIMEOUT)
    at.radio(key="ui_cmp_show_0").set_value("shipped")
    at.segmented_control(key=control_key(at, CMP)).set_value("running").run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert at.session_state["cmp_phase"] == "running" and at.session_state["cmp_show"] == "shipped"
    assert at.radio(key="ui_cmp_show_1").value == "shipped"
    press(at, "stopped", CMP)
    at.radio(key="ui_cmp_show_1").set_value("live").run(timeout=TIMEOUT)

    press(at, "running", CMP)  # the next comparison's radio is drawn showing it ...
    assert at.session_state["cmp_show"] == "live" and at.radio(key="ui_cmp_show_2").value == "live"
    at.session_state["ui_cmp_show_1"] = "shipped"  # ... and a click on the replaced radio arrives
    at.run(timeout=TIMEOUT)
    assert at.session_state["cmp_show"] == "shipped" and at.radio(key="ui_cmp_show_2").value == "shipped"
    tick(at)
    assert at.session_state["cmp_show"] == "shipped", "reconciling twice changes nothing"
    at.radio(key="ui_cmp_show_2").set_value("live").run(timeout=TIMEOUT)
    assert at.session_state["cmp_show"] == "live"
    press(at, "stopped", CMP)


def open_train(**params) -> AppTest:
    from test_app import TINY as TRAIN_TINY
    from test_app import open_page

    at = open_page("pages/train.py", {**TRAIN_TINY, **params})
    assert not at.exception, at.exception
    return at


def train_config(at: AppTest):
    from bptt.config import FIELDS, RunConfig

    return RunConfig(**{name: at.session_state[f"cfg_{name}"] for name in FIELDS})


def test_three_strategies_from_train_open_compare_running_them_overlaid():
    """Train's action: one click, and Compare trains full, regular (Train's k) and randomized at Train's
    settings with Train's seed, shown live; the chart overlays the three."""
    from bptt.compare.runner import three_strategies

    at = open_train(seed="7", truncation="regular", k="5", num_hiddens="16", lr="0.5", clip="2.0")
    cfg = train_config(at)
    assert (cfg.seed, cfg.k, cfg.num_hiddens, cfg.lr, cfg.clip) == (7, 5, 16, 0.5, 2.0)
    at.button(key="btn_three").click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert at.title[0].value == "Compare truncation strategies"
    at.switch_page(PAGE)  # AppTest reruns the page it was sent to; the browser stays on Compare
    lc = live(at)
    spec = lc.comparison.spec
    assert spec == three_strategies(cfg)
    assert spec.strategies == ("full", "regular:5", "randomized:0.9") and spec.seeds == (7,)
    assert spec.base == cfg and lc.comparison.corpus is at.session_state["corpus"][1], "Train's text"
    assert at.session_state["cmp_phase"] == "running" and at.session_state["cmp_show"] == "live"
    assert "cmp_wish" not in at.session_state, "the wish is done once its comparison is built"
    wait_until(at, lambda: lc.comparison.done, timeout=180, what="the three runs to end")
    tick(at)
    assert [r.trainer.cfg.seed for r in lc.comparison.finished] == [7, 7, 7]
    names = [t.get("name") for t in chart(at)["data"] if t.get("name")]
    assert names == ["full within each window (n=1)", "regular (k=5) (n=1)", "randomized (π=0.9) (n=1)"]
    assert list(shown_table(at)["strategy"]) == [
        "full within each window",
        "regular (k=5)",
        "randomized (π=0.9)",
    ]
    assert any("each with seed 7" in c.value for c in at.caption), "the sidebar names Train's settings"
    # The page's own settings are one click away, and then Start uses them again.
    at.button(key="btn_cmp_own").click().run(timeout=TIMEOUT)
    assert "cmp_from_train" not in at.session_state
    assert at.multiselect(key="ui_cmp_strategies_time_machine").value == [
        "full",
        "regular:5",
        "randomized:0.9",
    ]


def test_the_three_strategies_wish_survives_lost_and_repeated_runs():
    """The click is a wish that every run makes true: a wish whose Train run was lost before it switched
    (the callback's write is all that remains) switches on the next Train run; Compare's runs repeated
    build one comparison; a run cut short after it took a second wish but before it set the control is
    finished by the next one, and the first comparison gives way."""
    from bptt.compare.runner import three_strategies
    from pages.ui.three import Wish

    at = open_train(seed="3", epochs="50")
    cfg, corpus = train_config(at), at.session_state["corpus"][1]
    at.session_state["cmp_wish"] = Wish("first", three_strategies(cfg), corpus)
    at.run(timeout=TIMEOUT)  # any later Train run
    assert at.title[0].value == "Compare truncation strategies"
    at.switch_page(PAGE)
    first = live(at)
    assert first.wish == "first" and first.comparison.spec.seeds == (3,)
    for _ in range(3):  # repeated runs build nothing more
        at.run(timeout=TIMEOUT)
    assert at.session_state["cmp_lane"].latest[0] == 1 and live(at) is first
    assert at.session_state["cmp_phase"] == "running" and "cmp_wish" not in at.session_state

    wish = Wish("second", three_strategies(cfg.replace(seed=4)), corpus)
    first.stopped, wish.control = True, "ui_cmp_run_2"  # what the cut-short run did before it stopped
    at.session_state["cmp_wish"] = wish
    at.run(timeout=TIMEOUT)
    second = live(at)
    assert second.wish == "second" and second.comparison.spec.seeds == (4,)
    assert at.session_state["cmp_lane"].latest[0] == 2 and at.session_state["cmp_phase"] == "running"
    assert "cmp_wish" not in at.session_state

    third = Wish("third", three_strategies(cfg.replace(seed=5)), corpus)  # a new click during the second
    at.session_state["cmp_wish"] = third
    at.run(timeout=TIMEOUT)
    assert second.finished and live(at).wish == "third" and live(at).comparison.spec.seeds == (5,)
    press(at, "stopped", CMP)
