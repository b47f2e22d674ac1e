"""The Home, Theory and Train pages in Chinese under AppTest: every string a reader sees is Chinese but for
names, symbols, numbers and code (tests/i18n_check.py), and the book's terms are the ones its Chinese
edition uses. The CLI's help and errors in Chinese."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import press, wait_until
from i18n_check import english_left, english_words, visible_text
from streamlit.testing.v1 import AppTest

from bptt import i18n
from bptt.compare.results import load_shipped
from bptt.hosting.slots import shared_slots

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
HAN = re.compile(r"[\u4e00-\u9fff]")
TIMEOUT = 120


def _page(path: str, lang: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["lang"] = lang
    at.run(timeout=TIMEOUT)
    at.switch_page(path)
    return at.run(timeout=TIMEOUT)


# The Train page on the bundled corpus (no network), long enough to be still training after a few ticks
TRAIN_ZH = {"corpus": "bundled", "max_tokens": "20000", "num_hiddens": "32", "epochs": "500", "lang": "zh"}
PREFIX = {"time", "traveller"}  # the text the model continues: the corpus's language, the user's input
VIEWS = ("curves", "gradients", "dh", "speed", "runs")


def _train_page(params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["lang"] = "zh"
    at.run(timeout=TIMEOUT)
    at.query_params.clear()
    at.query_params.update(params)
    return at.switch_page("pages/train.py").run(timeout=TIMEOUT)


def _tick(at: AppTest, n: int = 1) -> AppTest:
    """AppTest never fires run_every: each .run() stands for one timer run of the live panel (the
    training workers train in between)."""
    for _ in range(n):
        time.sleep(0.3)
        at.run(timeout=TIMEOUT)
        assert not at.exception, at.exception
    return at


@pytest.fixture
def free_slots():
    yield shared_slots(capacity=64)  # AppTest sessions of earlier tests stay 'running'


def test_home_in_chinese_has_no_english_left():
    at = _page("pages/home.py", "zh")
    assert not at.exception, at.exception
    assert english_left(at) == []


def test_train_page_in_chinese_before_start(free_slots):
    at = _train_page(TRAIN_ZH)
    assert not at.exception, at.exception
    assert english_left(at, allowed=PREFIX) == []
    text = "\n".join(visible_text(at))
    for term in (
        "常规截断",
        "随机截断",
        "完全计算",
        "顺序分区",
        "随机采样",
        "书中的实验",
        "自动",
        "莎士比亚（内置）",
    ):
        assert term in text, term
    # every choice of every field is shown in Chinese, not as its value
    for key in ("cfg_truncation", "cfg_sampler", "cfg_tokenizer"):
        assert all(HAN.search(o) for o in at.radio(key=key).options), at.radio(key=key).options


@pytest.mark.parametrize("truncation", ["regular", "randomized"])
def test_train_page_in_chinese_while_training_in_every_view(free_slots, truncation):
    # a run that stays in training through the ticks below on an idle machine too (H = 32 finishes its
    # 500 epochs of 20,000 tokens in about 14 s there)
    at = _train_page({**TRAIN_ZH, "truncation": truncation, "num_hiddens": "128", "epochs": "1000"})
    press(at, "running")
    run = at.session_state["registry"].get(at.session_state["active"])
    wait_until(at, lambda: run.trainer.step_count > 0)
    assert not run.finished
    for view in VIEWS:
        at.segmented_control(key="ui_view").set_value(view).run(timeout=TIMEOUT)
        _tick(at)
        assert english_left(at, allowed=PREFIX) == [], view
        if view == "runs":  # the table (not in visible_text): headers, name and status in Chinese
            table = at.dataframe[0].value
            assert all(HAN.search(str(c)) for c in table.columns), list(table.columns)
            assert HAN.search(table.iloc[0, 0]) and table.iloc[0, 1] == "训练中", table.iloc[0].tolist()
    text = "\n".join(visible_text(at))
    name = "#1 常规截断（k=10）" if truncation == "regular" else "#1 随机截断"
    assert name in text and "训练中" in text


def test_a_run_is_named_in_the_language_shown(free_slots):
    """The run's name follows the language: started in English, shown in Chinese after the switch."""
    at = _train_page({**TRAIN_ZH, "truncation": "regular", "lang": "en"})
    at.session_state["ui_lang"] = "en"
    at.run(timeout=TIMEOUT)
    press(at, "running")
    _tick(at)
    assert any("#1 regular (k=10)" in s for s in visible_text(at))
    at.session_state["ui_lang"] = "zh"
    _tick(at)
    text = visible_text(at)
    assert any("#1 常规截断（k=10）" in s for s in text) and not any("regular (k=10)" in s for s in text)
    assert english_left(at, allowed=PREFIX) == []


def _cli(*args: str, lang: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env["LANG"] = lang
    return subprocess.run([sys.executable, "-m", "bptt", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_theory_in_chinese_has_no_english_left():
    at = _page("pages/theory.py", "zh")
    assert not at.exception, at.exception
    # a citation (Williams & Peng, ICLR) and the English name the Chinese text keeps once: influence balancing
    assert english_left(at, allowed={"williams", "peng", "iclr", "influence", "balancing"}) == []
    text = "\n".join(visible_text(at))
    for term in ("随机截断", "常规截断", "梯度消失", "影响平衡（influence balancing", "滑动窗口", "分块"):
        assert term in text, term


def test_theory_in_english_is_english():
    """The checker can fail on this page: in English it finds the English."""
    at = _page("pages/theory.py", "en")
    assert not at.exception, at.exception
    assert len(english_left(at)) > 50


def _help_words(text: str) -> list[str]:
    """English words of an argparse help text, less its flags, metavars, choices and the values a flag
    takes (time_machine, regular:10, --task synthetic), which are typed as they are."""
    text = re.sub(
        r"--?[\w-]+(?: [a-z_]+\b)?|\{[^}]*\}|\b[A-Z][A-Z_0-9]+\b|\b\w+:[\w.:]+|python -m bptt \w*", " ", text
    )
    return english_words([text], allowed=CLI_VALUES)


CLI_VALUES = {
    "time_machine",
    "bundled",
    "text",
    "synthetic",
    "full",
    "stream",
    "stderr",
    "npz",
}  # typed as they are


@pytest.mark.parametrize("command", ["train", "compare", "gradlab"])
def test_cli_subcommand_help_in_chinese(command):
    zh = _cli(command, "--help", lang="zh_CN.UTF-8")
    assert zh.returncode == 0, zh.stderr
    assert HAN.search(zh.stdout)
    assert _help_words(zh.stdout) == []
    en = _cli(command, "--help", lang="C.UTF-8")
    assert len(_help_words(en.stdout)) > 10  # the check can fail: in English it finds the English


@pytest.mark.parametrize(
    "args",
    [("gradlab", "--draws", "0"), ("compare", "--strategies", "bogus", "--out", "unused.json"),
     ("compare", "--budget", "seconds", "--seconds", "0", "--out", "unused.json")],
)  # fmt: skip
def test_cli_errors_in_chinese(args):
    zh = _cli(*args, lang="zh_CN.UTF-8")
    assert zh.returncode == 2 and zh.stderr.startswith("错误：") and HAN.search(zh.stderr[3:]), zh.stderr
    assert _help_words(re.sub(r"'[^']*'", " ", zh.stderr)) == []  # less the user's own input, quoted


def test_gradient_lab_in_chinese_has_no_english_left():
    at = _page("pages/gradient_lab.py", "zh")
    small = {"lab_num_steps": 12, "lab_num_hiddens": 16, "lab_batch": 4, "lab_seed": 3, "lab_k": 4}
    for key, value in small.items():
        at.number_input(key=key).set_value(value)
    at.number_input(key="lab_draws").set_value(40)
    at.button(key="btn_lab_apply").click().run(timeout=TIMEOUT)
    at.button(key="btn_lab_draw").click().run(timeout=TIMEOUT)
    for _ in range(240):  # the training workers draw; each page run reads how far they are
        if not any(b.key == "btn_lab_draw_stop" for b in at.button):
            break
        at.run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert at.session_state["lab_draw_job"].job.result is not None, "the estimators were drawn"
    assert english_left(at, allowed={"aicher", "tanh", "cos", "float16"}) == []  # float16: a dtype's name
    # the strategies by the book's names, in the estimators' table and the charts
    strategies = list(at.dataframe[-1].value["strategy"])
    assert strategies and all(HAN.search(s) or s.startswith("ARTBP") for s in strategies), strategies
    # the trace names the charts show, read from the decoded figures (an encoder may escape non-ASCII)
    names = [t.get("name") or "" for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"]]
    assert "随机截断（π=0.5）" in names and not any("randomized" in n for n in names), names


@pytest.mark.parametrize("task", ["time_machine", "synthetic"])
def test_compare_shipped_results_in_chinese(task):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["lang"] = "zh"
    at.run(timeout=TIMEOUT)
    at.session_state["ui_cmp_task"] = task
    at.switch_page("pages/compare.py").run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    # the note a results file carries is that file's own text (data, in English), quoted as it is
    note = {w.lower() for w in english_words([load_shipped(task).get("note", "")])}
    assert english_left(at, allowed={"welch", "holm"} | note) == []
    table = at.dataframe[0].value
    assert all(HAN.search(h) for h in table.columns if h != "± sd"), list(table.columns)  # headers too
    assert all(HAN.search(s) for s in table["策略"]), list(table["策略"])
    verdict = at.markdown[-1].value
    assert "regular" not in verdict and "perplexity" not in verdict and "常规截断" in verdict, verdict
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t["name"] for t in spec["data"] if t.get("name")]  # the legend (legendgroup keeps the keys)
    assert names and all(HAN.search(n) for n in names) and any("常规截断（k=" in n for n in names), names


def test_compare_live_settings_in_chinese(free_slots):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["lang"] = "zh"
    at.run(timeout=TIMEOUT)
    at.session_state["ui_cmp_show_0"] = "live"
    at.switch_page("pages/compare.py").run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert english_left(at, allowed={"welch", "holm"}) == []
    text = "\n".join(visible_text(at))
    assert "策略" in text and "随机种子数" in text


def test_the_three_strategies_action_in_chinese(free_slots):
    """Train's "three strategies" button and the Compare page it opens, Train's settings in its sidebar."""
    at = _train_page({**TRAIN_ZH, "epochs": "2", "max_tokens": "2000"})
    assert at.button(key="btn_three").label == "比较三种截断策略"
    at.button(key="btn_three").click().run(timeout=TIMEOUT)  # this run ends on Compare (no other run:
    assert not at.exception, at.exception  # AppTest would format Compare's radios in English before it)
    assert at.title[0].value == "比较截断策略"
    assert english_left(at, allowed={"welch", "holm"}) == []
    text = "\n".join(visible_text(at))
    assert "“训练”页面的设置" in text and "随机种子都是 0" in text and "随机截断（π=0.9）" in text, text
    at.session_state["cmp_lane"].latest[1].stopped = True  # (a press would format the radios in English)


def test_the_finished_message_follows_a_language_switch(free_slots):
    """The end-of-run message is formatted when read: a run finished in English reads in Chinese after
    the switch (training.Trainer.message)."""
    at = _train_page(
        {"corpus": "bundled", "max_tokens": "2000", "num_hiddens": "32", "epochs": "2", "lang": "en"}
    )
    at.session_state["ui_lang"] = "en"
    at.run(timeout=TIMEOUT)
    press(at, "running")
    run = at.session_state["registry"].get(at.session_state["active"])
    wait_until(at, lambda: run.finished, timeout=120, what="the run to finish")
    _tick(at)
    assert run.trainer.status == "finished"
    assert any("Finished 2 epochs." in s for s in visible_text(at))
    at.session_state["ui_lang"] = "zh"
    _tick(at)
    with i18n.use_language("zh"):
        finished = i18n._("Finished {epochs} epochs.").format(epochs=2)
    assert HAN.search(finished) and any(finished in s for s in visible_text(at))
    assert not any("Finished" in s for s in visible_text(at))
    assert english_left(at, allowed=PREFIX) == []
