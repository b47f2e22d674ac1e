"""The Theory page in Chinese under AppTest: every string a reader sees is Chinese but for names, symbols,
numbers and code (tests/i18n_check.py), and the book's terms are the ones its Chinese edition uses."""

from __future__ import annotations

from pathlib import Path

from i18n_check import english_left, visible_text
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120


def _page(path: str, lang: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["lang"] = lang
    at.run(timeout=TIMEOUT)
    at.switch_page(path)
    return at.run(timeout=TIMEOUT)


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
