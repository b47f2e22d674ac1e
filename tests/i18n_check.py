"""What a page shows, as text, and which English words are left in it: for the tests that render a page in
Chinese under AppTest and check that it is all Chinese but for names, symbols and numbers.

    from i18n_check import english_left, visible_text  # as tests import conftest
    at = AppTest.from_file(APP); at.session_state["ui_lang"] = "zh"; at.run()
    assert english_left(at) == []

`visible_text` walks AppTest's element tree and collects every string a reader sees: markdown, captions,
titles, headers, alerts, widget labels (unless hidden), help, options, placeholders, button and link
labels, metric labels and values, expander and tab labels, and from each Plotly chart its title, axis titles,
subplot titles, annotations, legend names, colour bar titles, hover templates and text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

# Words a Chinese page may keep: names of people, products, data sets and papers; the book's code names
# (num_steps, W_hh, ...); units and symbols. Lower-case; a word is checked case-insensitively.
ALLOWED = {
    # names of people, products, formats and texts
    "bptt", "lab", "plotly", "pytorch", "torch", "artbp", "d2l", "rnn", "gpu", "cpu", "cuda", "csv", "json",
    "url", "sgd", "adam", "shakespeare", "tallec", "ollivier", "pascanu", "streamlit", "utf", "sha",
    "txt", "numpy", "pandas", "lstm", "gru",
    "english",  # the language switch names each language in itself: English / 中文
    # units and functions
    "log", "log10", "exp", "max", "min", "tanh",
    # the tokenizer's values, which a message names for the command line's --tokenizer
    "letters", "chars",
    # the book's code names without an underscore (words with one, num_steps or W_hh, are always code)
    "epochs",
}  # fmt: skip

_STRING_FIELDS = ("label", "help", "body", "placeholder", "caption", "value", "text")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:'[a-z]+)?")
_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$", re.S)  # LaTeX: symbols, not prose
_CODE = re.compile(r"`[^`]*`")  # code spans: identifiers, commands
_LINK = re.compile(r"\]\([^)]*\)|https?://\S+")  # link targets
_TAG = re.compile(r"<[^>]*>|%\{[^}]*\}|&\w+;")  # HTML tags in Plotly text, %{x} in hover templates
_MATERIAL = re.compile(r":material/\w+:")


def _chart_strings(spec: str) -> Iterator[str]:
    """The strings a reader sees in a Plotly figure's JSON (what st.plotly_chart sends)."""
    fig = json.loads(spec)
    layout = fig.get("layout", {})

    def text_of(obj) -> str | None:
        if isinstance(obj, str):
            return obj
        if isinstance(obj, dict):
            return obj.get("text")
        return None

    yield text_of(layout.get("title")) or ""
    for key, axis in layout.items():
        if key.startswith(("xaxis", "yaxis")) and isinstance(axis, dict):
            yield text_of(axis.get("title")) or ""
            yield from (str(t) for t in axis.get("ticktext", []) or [])
    for note in layout.get("annotations", []) or []:  # subplot titles are annotations too
        yield note.get("text", "")
    for trace in fig.get("data", []):
        if trace.get("showlegend", True) is not False or trace.get("name"):
            yield trace.get("name", "") or ""
        yield trace.get("hovertemplate", "") or ""
        bar = (trace.get("colorbar") or {}).get("title")
        yield text_of(bar) or ""
        for key in ("text", "hovertext"):
            value = trace.get(key)
            if isinstance(value, str):
                yield value


def _walk(node) -> Iterator:
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _walk(child)


def visible_text(at) -> list[str]:
    """Every string the rendered AppTest `at` shows a reader (main area and sidebar)."""
    out: list[str] = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        if getattr(node, "type", "") == "plotly_chart" or proto.DESCRIPTOR.name == "PlotlyChart":
            if getattr(proto, "spec", ""):
                out += [s for s in _chart_strings(proto.spec) if s]
            continue
        hidden_label = proto.DESCRIPTOR.fields_by_name.get("label_visibility") is not None and (
            proto.label_visibility.value != 0  # HIDDEN or COLLAPSED: a screen reader's, not shown
        )
        for field, value in proto.ListFields():
            if field.name == "label" and hidden_label:
                continue
            if field.name in _STRING_FIELDS and isinstance(value, str):
                out.append(value)
            elif field.name in ("options", "display_value") and not isinstance(value, (str, bytes)):
                for v in value:  # strings (selectbox, radio) or options with a content (segmented control)
                    out.append(v if isinstance(v, str) else getattr(v, "content", ""))
    return [s for s in out if s.strip()]


def english_words(texts: Iterable[str], allowed: Iterable[str] = ()) -> list[str]:
    """Latin words of three or more letters in `texts` that are not names, symbols or code: the English
    left in a page that should be Chinese."""
    allow = ALLOWED | {a.lower() for a in allowed}
    found = []
    for text in texts:
        for pattern in (_MATH, _CODE, _LINK, _TAG, _MATERIAL):
            text = pattern.sub(" ", text)
        for word in _WORD.findall(text):
            letters = re.sub(r"[^A-Za-z]", "", word)
            if "_" in word or len(letters) < 3:
                continue  # code names (num_steps, W_hh, pi_t), symbols and units
            if word.lower() not in allow and letters.lower() not in allow:
                found.append(word)
    return found


def english_left(at, allowed: Iterable[str] = ()) -> list[str]:
    """The English words left in what `at` shows (see `english_words`)."""
    return english_words(visible_text(at), allowed)
