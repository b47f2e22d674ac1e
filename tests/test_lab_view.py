"""How the Gradient lab reads: its tables headed in the reader's language (the data keep their names),
log axes in powers of ten, the plane's k labels never on top of each other, epochs as whole numbers."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from bptt.charts import lab as lab_charts
from bptt.config import RunConfig
from bptt.corpora import load_corpus
from bptt.training import Trainer

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT = 120
CODE_NAME = re.compile(r"^[a-z0-9_]+$|_std$|^kept_|pi=")  # a column name as the code spells it


def headers(at) -> list[dict[str, str]]:
    """Per table on the page: column name -> the header the reader sees."""
    return [{c: v.get("label") for c, v in json.loads(d.proto.columns).items() if c != "_index"}  # hidden
            for d in at.dataframe]  # fmt: skip


@pytest.fixture(scope="module", params=["en", "zh"])
def lab_page(request):
    """The lab on a small initialisation (every table drawn after one draw), in each language."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params["lang"] = request.param
    at.run(timeout=TIMEOUT)
    at.switch_page("pages/gradient_lab.py").run(timeout=TIMEOUT)
    at.radio(key="lab_weights").set_value("init")
    for key, value in {"lab_num_steps": 12, "lab_num_hiddens": 16, "lab_batch": 4, "lab_k": 4}.items():
        at.number_input(key=key).set_value(value)
    at.number_input(key="lab_draws").set_value(20)
    at.button(key="btn_lab_apply").click().run(timeout=TIMEOUT)
    at.button(key="btn_lab_draw").click().run(timeout=TIMEOUT)
    for _ in range(240):
        if not any(b.key == "btn_lab_draw_stop" for b in at.button):
            break
        at.run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    return request.param, at


def test_every_table_has_a_header_for_every_column_in_the_readers_language(lab_page):
    lang, at = lab_page
    tables = headers(at)
    assert len(tables) == 4  # by lag, exact, sampled beside exact, the draws
    for frame, shown in zip((d.value for d in at.dataframe), tables, strict=True):
        assert set(shown) == set(frame.columns)  # the data keep their names; every column has a header
        for column, label in shown.items():
            assert label and not CODE_NAME.search(label), (column, label)
            if lang == "zh" and column not in ("lag",):
                assert re.search(r"[\u4e00-\u9fff]", label), (column, label)
    kept = [label for t in tables for c, label in t.items() if c.startswith("kept_")]
    assert kept and all(("π=0.5" in k or "π=0.9" in k or "T0=" in k or "k=4" in k) for k in kept), kept


def test_the_lab_charts_log_axes_read_as_powers_of_ten():
    sweep = pd.DataFrame({"k": [1, 2, 3], "bias": [0.9, 0.5, 0.0]})
    exact = pd.DataFrame({"kind": ["randomized"], "value": [0.5], "strategy": ["randomized pi=0.5"],
                          "bias": [0.0], "variance": [1.6e7]})  # fmt: skip
    table = pd.DataFrame({"lag": [1, 2, 3], "norm_ratio": [1.0, 1e-3, 1e-9]})
    travel = pd.DataFrame({"lag": [1, 2], "rows": [4, 4], "log10_mean": [0.0, -5.0], "log10_max": [0.0, -4.0],
                           "log10_bound": [0.0, -3.0]})  # fmt: skip
    figures = {
        "plane": lab_charts.plane_figure(exact, sweep, "w").layout.yaxis,
        "lag norm": lab_charts.lag_norm_figure(table, "w").layout.yaxis,
        "travel": lab_charts.travel_figure(travel, "w").layout.yaxis,
    }
    for name, axis in figures.items():
        assert axis.type == "log" and axis.exponentformat == "power", name


def overlaps(labels: list[str], xs, span: float, gap: float) -> list[tuple[float, float]]:
    at = sorted(float(x) for label, x in zip(labels, xs, strict=True) if label)
    return [(a, b) for a, b in zip(at, at[1:]) if b - a < gap * span - 1e-12]


@pytest.mark.parametrize("seed", range(20))
def test_the_planes_k_labels_never_overlap(seed):
    """Biases of regular k = 1..T as the lab meets them: falling with k, often flat past the gradient's
    reach (every k there at almost the same bias)."""
    rng = np.random.default_rng(seed)
    T = int(rng.integers(5, 101))
    reach = int(rng.integers(1, T + 1))
    bias = np.maximum(0.0, 1 - np.arange(1, T + 1) / reach) ** rng.uniform(0.3, 3) + rng.uniform(0, 1e-3, T)
    fig = lab_charts.plane_figure(None, pd.DataFrame({"k": range(1, T + 1), "bias": bias}), "w")
    strip = fig.data[0]
    span = fig.layout.xaxis2.range[1] - fig.layout.xaxis2.range[0]
    labels = list(strip.text)
    assert not overlaps(labels, strip.x, span, lab_charts.LABEL_GAP)
    assert labels[-1] == f"k={T}"  # the window's own k is always named
    assert all(label in ("", f"k={k}") for k, label in zip(range(1, T + 1), labels, strict=True))


def test_well_spread_biases_keep_every_named_k():
    T = 35
    bias = np.linspace(1.0, 0.0, T)  # 1/34 of the span apart: k = 1, 2 are close, the rest are not
    labels = lab_charts.spaced_k_labels(range(1, T + 1), bias, 1.0)
    named = {int(t[2:]) for t in labels if t}
    assert named >= {1, 5, 10, 20, 35} and 2 not in named  # k = 2 would touch k = 1's label


def test_a_finished_runs_weights_are_at_its_last_epoch_and_shown_as_a_whole_number():
    from pages.ui.lab import snapshot_label

    cfg = RunConfig(corpus="bundled", max_tokens=2000, num_hiddens=8, batch_size=4, num_steps=10, epochs=3)
    trainer = Trainer(cfg, load_corpus("bundled", max_tokens=2000))
    trainer.run()
    step = trainer.pin_snapshot()
    meta = dict(trainer.snapshots())[step]
    assert trainer.status == "finished" and meta["epoch"] == 3.0
    label = snapshot_label(meta)
    assert label == f"step {step:,} (after 3 epochs)"
    assert snapshot_label({**meta, "epoch": 2.99}) == f"step {step:,} (after 2 epochs)"
    assert math.isfinite(meta["perplexity"])
