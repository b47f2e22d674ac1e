"""Full computation over the whole sequence on Train (AppTest) and its charts: offered as a truncation in
both languages, forcing sequential partitioning, and the Speed view drawing the trainer's own per-step
backward time and graph bytes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import press, wait_until
from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT, TRAIN
from test_replays_page import values as array

from bptt.charts import train as charts
from bptt.hosting.slots import shared_slots
from bptt.i18n import use_language
from bptt.truncation.stream import MAX_STREAM_STEPS

# An epoch of 2,000 tokens at B = 4, T = 10 is 49 windows: the stream grows to 490 steps, then restarts.
SMALL = {"corpus": "bundled", "max_tokens": "2000", "num_hiddens": "16", "batch_size": "4", "num_steps": "10",
         "epochs": "2", "truncation": "stream"}  # fmt: skip


@pytest.fixture(autouse=True)
def free_slots():
    yield shared_slots(capacity=64)


def open_train(params: dict[str, str], lang: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if lang:
        at.query_params["lang"] = lang  # the language is read on the first run
    at.run(timeout=TIMEOUT)
    at.query_params.clear()
    at.query_params.update({**params, **({"lang": lang} if lang else {})})
    return at.switch_page(TRAIN).run(timeout=TIMEOUT)


def trace(at: AppTest, key: str) -> dict:
    """The first trace of a chart as drawn, its x, y as numpy arrays."""
    chart = next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id)
    data = json.loads(chart.proto.spec)["data"][0]
    return {k: array(data[k]) for k in ("x", "y")}


def test_train_offers_both_fulls_and_forces_sequential_partitioning():
    at = open_train({**SMALL, "sampler": "random"})
    assert not at.exception
    radio = at.radio(key="cfg_truncation")
    assert radio.value == "stream" and "full over the whole sequence" in radio.options
    assert "full within each window" in radio.options
    sampler = at.radio(key="cfg_sampler")
    assert sampler.value == "sequential" and sampler.disabled
    assert any("sampler set to sequential" in line for line in at.session_state["url_notes"])
    text = " ".join(m.value for m in at.markdown)
    assert "full computation" in text and f"{MAX_STREAM_STEPS:,} time steps" in text
    at.radio(key="cfg_truncation").set_value("full").run(timeout=TIMEOUT)
    assert not at.radio(key="cfg_sampler").disabled
    assert "not the full computation over the whole sequence" in " ".join(m.value for m in at.markdown)


def test_train_names_both_fulls_in_chinese():
    at = open_train(SMALL, lang="zh")
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "书中的**完全计算**" in text and "2,000 个时间步" in text
    with use_language("zh"):
        shown = [
            at.radio(key="cfg_truncation").format_func(o) for o in at.radio(key="cfg_truncation").options
        ]
    assert shown[:2] == ["窗口内完全计算", "完全计算（整个序列）"]


def test_the_speed_view_draws_time_and_memory_growing_with_the_stream():
    at = open_train(SMALL)
    press(at, "running")
    at.segmented_control(key="ui_view").set_value("speed").run(timeout=TIMEOUT)
    run = at.session_state["registry"].get(at.session_state["active"])
    wait_until(at, lambda: run.trainer.step_count >= 60, timeout=120, what="60 steps")
    press(at, "paused")
    df = run.trainer.snapshot()[0]
    memory = trace(at, "chart_stream_bytes")
    time_fig = trace(at, "chart_stream_time")
    n = len(memory["x"])
    assert n == len(time_fig["x"]) and n <= len(df)
    shown = df.set_index("step").loc[memory["x"]]
    np.testing.assert_allclose(memory["y"], shown["graph_bytes"] / 2**20)
    np.testing.assert_allclose(time_fig["y"], shown["backward_time"])
    held = shown["held_steps"].to_numpy()
    assert held.max() == 490 and (np.diff(held) < 0).any()  # grew to the epoch's 49 windows, then restarted
    assert any("calls the full computation slow" in c.value for c in at.caption)


def test_stream_chart_is_the_history_and_a_placeholder_for_other_runs():
    mib = [2**20, 2**21, 2**20, 2**21]
    df = pd.DataFrame({"step": [1, 2, 3, 4], "held_steps": [5, 10, 5, 10], "graph_bytes": mib,
                       "backward_time": [0.1, 0.2, 0.1, 0.2]})  # fmt: skip
    fig = charts.stream_chart(df, "graph_bytes")
    assert list(fig.data[0].y) == [1, 2, 1, 2] and list(fig.data[0].customdata) == [5, 10, 5, 10]
    assert list(charts.stream_chart(df, "backward_time").data[0].y) == [0.1, 0.2, 0.1, 0.2]
    empty = charts.stream_chart(df.drop(columns="held_steps"), "graph_bytes")
    assert not empty.data and "Only full computation" in empty.layout.annotations[0].text
