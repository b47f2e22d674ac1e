"""The Chinese catalog: complete, in sync with the source, compiled, with every placeholder kept; the
language negotiation; Home, the charts, the settings' labels, the upload messages and the CLI in Chinese.
"""

from __future__ import annotations

import os
import re
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from i18n_check import _chart_strings, english_left, english_words, visible_text
from streamlit.testing.v1 import AppTest

from bptt.charts import train as charts
from bptt.config import FIELDS, PRESETS, RunConfig
from bptt.corpora import decode_upload
from bptt.data import CorpusError, make_corpus
from bptt.i18n import LANGUAGES, _, negotiate, ngettext, normalize, translations, use_language
from bptt.i18n.catalog import LOCALES, compiled, extract, read_mo, read_po
from bptt.truncation import ConstantPi, Strategy

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
HAN = re.compile(r"[\u4e00-\u9fff]")


def _ids(catalog) -> dict[str, object]:
    return {(m.id[0] if isinstance(m.id, (tuple, list)) else m.id): m for m in catalog if m.id}


def _strings(message) -> tuple[str, ...]:
    s = message.string  # a tuple (.po) or a list (.mo) for a plural message
    return tuple(s) if isinstance(s, (tuple, list)) else (s,)


# -- the catalog -----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_has_a_translation_and_none_is_fuzzy(locale):
    catalog = read_po(locale)
    assert not catalog.fuzzy, "the catalog's header is marked fuzzy: gettext would ignore its plural rule"
    bad = [(mid, "fuzzy" if m.fuzzy else "untranslated") for mid, m in _ids(catalog).items()
           if m.fuzzy or not all(s.strip() for s in _strings(m))]  # fmt: skip
    assert bad == []


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_every_message_of_the_source(locale):
    """A new `_("...")` in bptt/, pages/ or app.py fails here until `python -m bptt.i18n.catalog update`
    adds it and someone translates it."""
    source = set(_ids(extract()))
    assert len(source) > 50  # the extraction found the marked strings at all
    missing = sorted(source - set(_ids(read_po(locale))))
    assert missing == [], "run `python -m bptt.i18n.catalog update`, translate, then `compile`"


@pytest.mark.parametrize("locale", LOCALES)
def test_committed_mo_is_the_compiled_po(locale):
    def table(catalog):
        return {mid: _strings(m) for mid, m in _ids(catalog).items() if not m.fuzzy and all(_strings(m))}

    committed = table(read_mo(locale))
    fresh = table(read_po(locale))
    assert committed == fresh, "run `python -m bptt.i18n.catalog compile`"
    assert (
        compiled(read_po(locale))
        == (ROOT / "bptt/i18n/locale" / locale / "LC_MESSAGES/messages.mo").read_bytes()
    )


def _fields(text: str) -> list[str]:
    """The replacement fields of str.format in `text` ({name}, {name:.2f}) and %-style ones."""
    names = [name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None]
    return sorted(names + re.findall(r"%\((\w+)\)[sdrfg]|%[sdr]", text))


@pytest.mark.parametrize("locale", LOCALES)
def test_translations_keep_every_placeholder(locale):
    """Every {name} of a message is in its translation, so `.format(name=...)` never raises in Chinese
    and never drops a number."""
    bad = []
    for mid, m in _ids(read_po(locale)).items():
        originals = m.id if isinstance(m.id, tuple) else (m.id,)
        want = set(_fields(originals[-1]))
        bad += [(mid, s) for s in _strings(m) if s and set(_fields(s)) != want]
    assert bad == []


# -- choosing the language -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("zh-CN", "zh"),
        ("zh-TW", "zh"),  # one Chinese catalog (simplified, as the book's Chinese edition)
        ("zh_Hans_CN", "zh"),
        ("ZH", "zh"),
        ("en-US", "en"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("fr-FR,zh-CN;q=0.8,en;q=0.5", "zh"),
        ("en;q=0.3, zh;q=0.7", "zh"),
        ("zh;q=0, en;q=0.1", "en"),  # q=0: not acceptable
        ("de-DE,fr;q=0.9", "en"),  # nothing supported: English
        ("", "en"),
        (None, "en"),
        ("garbage;;q=x,,", "en"),
        ("zh;q=abc", "en"),
        ("*", "en"),
    ],
)
def test_negotiate(header, lang):
    assert negotiate(header) == lang


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("zh", "zh"),
        ("zh-CN", "zh"),
        ("zh_Hans", "zh"),
        ("en-GB", "en"),
        ("fr", None),
        ("", None),
        (None, None),
        (3, None),
    ],  # fmt: skip
)
def test_normalize(tag, code):
    assert normalize(tag) == code


def test_missing_translation_falls_back_to_english_not_to_an_id():
    with use_language("zh"):
        assert _("Perplexity of a message nobody translated") == "Perplexity of a message nobody translated"
        assert ngettext("{n} apple", "{n} apples", 2) == "{n} apples"
        assert _("Home") == "首页"
    with use_language("fr"):  # unsupported: English
        assert _("Home") == "Home"
    assert type(translations("xx")).__name__ == "NullTranslations"
    assert set(LANGUAGES) == {"en", *LOCALES}


def test_language_is_per_context():
    with use_language("zh"):
        assert _("Home") == "首页"
        with use_language("en"):
            assert _("Home") == "Home"
        assert _("Home") == "首页"
    assert _("Home") == "Home"


def test_chinese_plural_form_is_used():
    with use_language("zh"):
        for n in (0, 1, 5):
            text = ngettext(
                "The text has {n} character after preprocessing; at least 2 are needed.",
                "The text has {n} characters after preprocessing; at least 2 are needed.",
                n,
            )
            assert HAN.search(text) and "{n}" in text


# -- the English-left checker itself ------------------------------------------------------------------


def test_english_words_finds_prose_and_spares_names_math_and_code():
    assert english_words(["训练 the model"]) == ["the", "model"]
    assert english_words(["用 PyTorch 和 Plotly 训练 RNN，num_steps = 35，$\\lVert W_{hh} \\rVert$"]) == []
    assert english_words(["`python -m bptt train`", "[链接](https://example.com/page)", "%{y:.3g}"]) == []
    assert english_words(["第 3 步 <br>loss"]) == ["loss"]


# -- the pages and charts in Chinese ----------------------------------------------------------------


def _home(lang: str, via: str = "query") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if via == "query":
        at.query_params["lang"] = lang
    else:
        at.session_state["ui_lang"] = lang
    return at.run(timeout=60)


@pytest.mark.parametrize("via", ["query", "session"])
def test_home_in_chinese_has_no_english_left(via):
    at = _home("zh", via)
    assert not at.exception
    assert english_left(at) == []
    text = "\n".join(visible_text(at))
    for term in ("通过时间反向传播", "完全计算", "常规截断", "随机截断", "困惑度", "梯度裁剪", "§8.7"):
        assert term in text
    assert at.query_params["lang"] == ["zh"] or at.query_params["lang"] == "zh"


def test_home_in_english_is_english():
    """The checker can fail: the English page has English left (and no Chinese but the switch)."""
    at = _home("en")
    assert not at.exception
    assert len(english_left(at)) > 50
    assert not any(HAN.search(t) for t in visible_text(at) if t not in LANGUAGES.values() and "语言" not in t)


def _chart_data():
    n = 50
    df = pd.DataFrame({
        "step": np.arange(1, n + 1), "tokens": np.arange(1, n + 1) * 100, "wall_time": np.linspace(0, 5, n),
        "loss": np.linspace(3, 1, n), "perplexity": np.exp(np.linspace(3, 1, n)),
        "tokens_per_sec": np.full(n, 1000.0), "grad_norm": np.linspace(5, 0.5, n),
        "grad_norm_clipped": np.minimum(np.linspace(5, 0.5, n), 1.0), "clipped": np.linspace(5, 0.5, n) > 1,
        "spectral_norm": np.linspace(0.9, 1.2, n),
        **{f"norm_{p}": np.linspace(1, 2, n) for p in ("W_xh", "W_hh", "b_h", "W_hq", "b_q")},
    })  # fmt: skip
    gates = {"regular": np.array([0, 1, 1, 0, 1, 1.0]), "randomized": np.array([0, 1.25, 0, 1.25, 1.25, 0])}
    return [
        charts.metric_chart({"run": df}, "loss", "tokens"),
        charts.metric_chart({"run": df}, "perplexity", "wall_time"),
        charts.metric_chart({}, "tokens_per_sec", "step"),
        charts.grad_norm_chart(df, 1.0),
        charts.grad_norm_chart(df.iloc[:0], 1.0),
        charts.param_norm_chart(df),
        charts.dh_heatmap(np.abs(np.random.default_rng(0).normal(size=(4, 6)))),
        charts.spectral_chart(df),
        charts.schedule_preview(ConstantPi(0.8), 10),
        charts.segmentation_strip(list("abcdef"), gates),
        charts.theta_chart({"full": np.linspace(0, 1, 10)}, 0.9),
    ]


def test_every_chart_in_chinese_has_no_english_left():
    with use_language("zh"):
        figures = _chart_data()
    texts = [s for fig in figures for s in _chart_strings(fig.to_json())]
    # Run names ("run", "regular") are the user's or the caller's labels, not the chart's words.
    assert english_words(texts, allowed={"run", "regular", "randomized", "full"}) == []
    assert any("困惑度" in t for t in texts) and any("梯度裁剪" in t for t in texts)
    with use_language("en"):
        english = [s for fig in _chart_data() for s in _chart_strings(fig.to_json())]
    assert "No data yet — press Start" in english and not any(HAN.search(t) for t in english)


# -- settings, uploads, the command line ------------------------------------------------------------


def test_every_field_label_and_help_is_translated():
    with use_language("zh"):
        for f in FIELDS.values():
            assert f.label_text() != f.label or not re.search("[A-Za-z]{3}", f.label), f.name
            assert HAN.search(f.help_text()), f.name
        assert english_words([f.help_text() for f in FIELDS.values()]) == []
        assert [_(name) for name in PRESETS] == ["书中的实验", "快速预览"]
    for f in FIELDS.values():  # English: the ids themselves
        assert (f.label_text(), f.help_text()) == (f.label, f.help)


def test_every_choice_has_a_label_in_both_languages():
    for f in FIELDS.values():
        assert all(f.choice_labels.values()) and (f.kind is str) == bool(f.choices), f.name
    with use_language("zh"):
        shown = {(f.name, c): f.choice_text(c) for f in FIELDS.values() for c in f.choices}
        assert english_words(shown.values()) == []
        assert (shown["truncation", "full"], shown["truncation", "regular"]) == ("窗口内完全计算", "常规截断")
        assert shown["truncation", "stream"] == "完全计算（整个序列）"
        assert shown["truncation", "randomized"] == "随机截断"
        assert shown["tokenizer", "chars"] == "每个字符"
    assert FIELDS["truncation"].choice_text("regular") == "regular"


@pytest.mark.parametrize(
    ("changes", "en", "zh"),
    [
        ({"truncation": "full"}, "full within each window", "窗口内完全计算"),
        ({"truncation": "stream"}, "full over the whole sequence", "完全计算（整个序列）"),
        ({"truncation": "regular", "k": 7}, "regular (k=7)", "常规截断（k=7）"),
        ({"truncation": "randomized", "pi": 0.5}, "randomized (π=0.5)", "随机截断（π=0.5）"),
        (
            {"truncation": "randomized", "schedule": "linear"},
            "randomized (π 0.9→0.5)",
            "随机截断（π 0.9→0.5）",
        ),
    ],
)
def test_strategy_title_in_both_languages(changes, en, zh):
    strategy = Strategy.of_config(RunConfig(**changes))
    assert strategy.title() == en
    with use_language("zh"):
        assert strategy.title() == zh


def test_chinese_text_in_letters_mode_suggests_every_character():
    text = "在训练页面上，你可以用三种方法训练循环神经网络。" * 20
    with use_language("zh"), pytest.raises(CorpusError) as info:
        make_corpus(text, "upload", tokenizer="letters")
    assert "每个字符" in str(info.value) and info.value.kind == "too_short"
    with pytest.raises(CorpusError, match="'chars'"):
        make_corpus(text, "upload", tokenizer="letters")
    assert len(make_corpus(text, "upload", tokenizer="chars")) > 100  # and that mode keeps it


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b"\xff\xfeh\x00i\x00", "not_utf8"),
        (b"ab\x00cd", "binary"),
        (b"caf\xe9 au lait", "not_utf8"),
        (b"   \n ", "empty"),
    ],  # fmt: skip
)
def test_upload_errors_in_chinese(data, kind):
    with use_language("zh"), pytest.raises(CorpusError) as info:
        decode_upload(data)
    assert info.value.kind == kind and HAN.search(str(info.value))
    assert english_words([str(info.value)]) == []


def _cli(*args: str, lang: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env["LANG"] = lang
    return subprocess.run([sys.executable, "-m", "bptt", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_cli_help_follows_lang():
    zh = _cli("--help", lang="zh_CN.UTF-8")
    assert zh.returncode == 0
    assert "用法" in zh.stdout and "显示此帮助信息并退出" in zh.stdout
    en = _cli("--help", lang="C.UTF-8")
    assert en.returncode == 0 and "usage:" in en.stdout and not HAN.search(en.stdout)


def test_cli_errors_follow_lang():
    zh = _cli("train", "--truncation", "bogus", lang="zh_CN.UTF-8")
    assert zh.returncode == 2 and "错误" in zh.stderr and "无效的选项" in zh.stderr
