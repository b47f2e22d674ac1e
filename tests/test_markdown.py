"""No bold that fails to render, in either language.

Streamlit renders markdown by CommonMark's rules, where a closing `**` must be right-flanking: after
punctuation it must be followed by whitespace or punctuation. `**权重：**{weights}` (a full-width colon
inside the bold, a letter after it) therefore shows its asterisks; `**权重**：{weights}` renders. Each
test renders text with a CommonMark parser (markdown-it-py) and looks for a literal `**` in what a
reader would see: every message of the catalogs, with its placeholders filled, and every element of
every page in both languages under AppTest.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages import pofile
from i18n_check import visible_text
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from bptt.hosting.slots import shared_slots
from bptt.i18n.catalog import po_path

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
TIMEOUT = 120
_MD = MarkdownIt("commonmark")
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$", re.S)  # LaTeX is rendered by KaTeX, not as markdown
_CODE = re.compile(r"<code>.*?</code>|<pre>.*?</pre>", re.S)  # a literal ** in code is meant
_PLACEHOLDER = re.compile(r"\{[a-zA-Z_]\w*(?:[:!][^{}]*)?\}|%\([a-z_]+\)[sdr]")


def literal_bold(text: str) -> bool:
    """Whether `text`, rendered as CommonMark, still shows a `**` outside code and math."""
    html = _MD.render(_MATH.sub(" ", text))
    return "**" in _CODE.sub(" ", html)


def test_the_check_sees_the_full_width_colon_case():
    assert literal_bold("**权重：**值")  # the bug: the closing ** follows punctuation, precedes a letter
    assert not literal_bold("**权重**：值")
    assert not literal_bold("**Weights:** value") and not literal_bold("`a ** b`")


def _messages():
    with open(po_path("zh"), "rb") as f:
        catalog = pofile.read_po(f, locale="zh")
    for m in catalog:
        if not m.id:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        for text in ids + strings:
            if text and "**" in text:
                yield text


@pytest.mark.parametrize("text", list(_messages()), ids=lambda t: t[:40])
def test_every_bold_message_renders_with_its_placeholders_filled(text):
    # a placeholder is filled with a letter, as at run time: '{weights}' after '：**' is a word there
    assert not literal_bold(_PLACEHOLDER.sub("x", text)), text


def _pages():
    from pages.ui.path import STEPS

    yield "pages/home.py", {}
    for step in STEPS:
        yield "pages/path.py", {"step": step}
    yield "pages/train.py", {"corpus": "bundled"}
    yield "pages/theory.py", {}
    yield "pages/gradient_lab.py", {}
    yield "pages/compare.py", {}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_no_page_shows_a_literal_bold_marker(lang):
    shared_slots(capacity=64)
    for page, params in _pages():
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.query_params["lang"] = lang
        at.run(timeout=TIMEOUT)
        at.query_params.update(params)
        # the Gradient lab at a small model: its description of the weights is the same sentence
        for key, value in {"lab_num_steps": 12, "lab_num_hiddens": 16, "lab_batch": 4}.items():
            at.session_state[key] = value
        at.switch_page(page).run(timeout=TIMEOUT)
        assert not at.exception, (page, at.exception)
        shown = visible_text(at)
        assert len(shown) > 5, page
        bad = [s for s in shown if literal_bold(s)]
        assert bad == [], (page, params, bad)
