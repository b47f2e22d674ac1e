"""The Theory page in Chinese under AppTest: every string a reader sees is Chinese but for names, symbols,
numbers and code (tests/i18n_check.py), and the book's terms are the ones its Chinese edition uses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from i18n_check import english_left, english_words, visible_text
from streamlit.testing.v1 import AppTest

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


CLI_VALUES = {"time_machine", "bundled", "text", "synthetic", "full", "stderr"}


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
