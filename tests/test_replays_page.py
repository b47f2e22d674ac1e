"""Replays on the Train page (pages/ui/replays.py) under AppTest: choosing a recording draws its curves,
overlays them with a run trained in the session, plays on at the chosen speed, and is said in Chinese.

AppTest never fires run_every: each .run() stands for one timer run of the live panel.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import press, wait_until
from streamlit.testing.v1 import AppTest

from bptt.hosting.recordings import shipped
from bptt.hosting.slots import shared_slots
from bptt.i18n import use_language

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT = 60
TINY = {"corpus": "bundled", "max_tokens": "2000", "num_hiddens": "32", "epochs": "2"}
HAN = re.compile(r"[\u4e00-\u9fff]")

pytestmark = pytest.mark.skipif("book-full" not in shipped(), reason="the shipped recordings are missing")


@pytest.fixture(autouse=True)
def free_slots():
    yield shared_slots(capacity=64)  # AppTest sessions of earlier tests stay 'running'


def open_train(params: dict[str, str], lang: str = "en") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["lang"] = lang
    at.run(timeout=TIMEOUT)
    at.query_params.clear()
    at.query_params.update({**params, "lang": lang})
    return at.switch_page("pages/train.py").run(timeout=TIMEOUT)


def add_replay(at: AppTest, key: str, speed: float) -> AppTest:
    at.selectbox(key="ui_replay").set_value(key)
    at.segmented_control(key="ui_replay_speed").set_value(speed)
    at.button(key="btn_replay").click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    return at


def values(a) -> np.ndarray:
    """A Plotly array as drawn: a list, or the typed array ({dtype, bdata}) Plotly encodes in base64."""
    if isinstance(a, dict):
        return np.frombuffer(base64.b64decode(a["bdata"]), dtype=np.dtype(a["dtype"]))
    return np.asarray(a)


def loss_traces(at: AppTest) -> dict[str, float]:
    """Each trace of the loss chart (against tokens): its name and its last x, the tokens of the last step
    drawn."""
    spec = next(
        json.loads(c.proto.spec)
        for c in at.get("plotly_chart")
        if "loss L (cross-entropy) against" in c.proto.spec
    )
    return {t["name"]: float(values(t["x"])[-1]) for t in spec["data"]}


def tokens_at(run, step: int) -> float:
    return float(run.trainer.rec.frame["tokens"].iat[step - 1])


def test_a_replay_draws_its_whole_curves_at_once_and_overlays_a_trained_run():
    at = open_train(TINY)
    add_replay(at, "book-full", math.inf)
    runs = at.session_state["registry"].list()
    assert [r.name for r in runs] == ["#1 replay · full within each window"] and runs[
        0
    ].trainer.step_count == 4000
    assert loss_traces(at) == {
        "#1 replay · full within each window": 4000 * 32 * 35
    }  # 500 epochs x 8 minibatches of 32 x 35
    assert any("python -m bptt train --record" in c.value for c in at.caption)
    assert not any(e.label == "Post this run to a class board" for e in at.expander)  # nobody's to post
    press(at, "running")
    wait_until(
        at, lambda: at.session_state["registry"].get(2) and at.session_state["registry"].get(2).finished
    )
    at.run()  # the run that saw it finished may have drawn it a step before its end: draw it finished
    traces = loss_traces(at)
    replay, trained = at.session_state["registry"].get(1), at.session_state["registry"].get(2)
    assert replay.name.startswith("#1 replay · ") and trained.name.startswith("#2 ")
    assert traces == {replay.name: 4000 * 32 * 35, trained.name: trained.trainer.tokens}


def drawn_step(at: AppTest, run) -> int:
    """The step whose tokens end the replay's loss curve."""
    tokens = run.trainer.rec.frame["tokens"].to_numpy()
    return int(np.searchsorted(tokens, loss_traces(at)[run.name])) + 1


def test_a_replay_plays_on_with_the_clock_and_takes_no_training_slot():
    at = open_train(TINY)
    add_replay(at, "book-full", 10.0)
    time.sleep(0.5)  # the replay begins at its step 0 when added: let its clock run before reading it
    at.run(timeout=TIMEOUT)
    run = at.session_state["registry"].get(1)
    replay = run.trainer
    first = replay.step_count  # the clock runs on: the page drew at most this many steps
    assert 0 < drawn_step(at, run) <= first < 4000 and not replay.done
    assert shared_slots().status().training == 0 and at.session_state["queue"] is None
    played = replay.played_seconds()
    time.sleep(1.0)
    at.run(timeout=TIMEOUT)
    assert first <= drawn_step(at, run) <= replay.step_count and replay.step_count > first
    assert replay.played_seconds() - played == pytest.approx(10 * 1.5, abs=5.0)  # 10× about 1.5 s
    assert shared_slots().status().training == 0
    at.segmented_control(key="ui_replay_speed").set_value(math.inf).run(timeout=TIMEOUT)
    assert replay.done and loss_traces(at) == {run.name: 4000 * 32 * 35}


def test_the_replay_box_and_its_run_speak_chinese():
    at = open_train(TINY, lang="zh")
    assert any(e.label == "回放一次录制的运行（不训练）" for e in at.expander)
    with use_language("zh"):  # AppTest formats the widgets' values in this thread, with their format_func
        add_replay(at, "book-full", math.inf)
        assert at.session_state["registry"].get(1).name == "#1 回放 · 窗口内完全计算"  # named when read
    texts = [c.value for c in at.caption if "torch" in c.value]
    assert texts and all(HAN.search(t) for t in texts)
    assert at.button(key="btn_replay").label == "添加回放"


def test_analyse_opens_a_replays_final_weights_in_the_gradient_lab():
    at = open_train(TINY)
    add_replay(at, "book-regular-k10", math.inf)
    at.button(key="btn_analyse").click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert at.session_state["lab_applied"] == (1, 4000)  # the replay's last step: its weights
    assert not any(e.value for e in at.error), [e.value for e in at.error]
