"""The language switch (中文 / English) on every page, kept in the URL as `?lang=zh`.

A shared link opens in the sender's language (the URL wins); a first visit without one follows the
browser's language (`st.context.locale`, else its Accept-Language header), English otherwise.
"""

from __future__ import annotations

import streamlit as st

from bptt.i18n import LANGUAGES, negotiate, normalize, set_language

KEY = "ui_lang"


def _browser_language() -> str:
    try:
        return negotiate(st.context.locale or st.context.headers.get("Accept-Language"))
    except Exception:  # no browser behind this run (AppTest): English
        return negotiate(None)


def apply_language() -> str:
    """Set this run's language and return it. Call it first in app.py and in every fragment: Streamlit
    runs a fragment in a fresh thread, where the language would otherwise be English."""
    ss = st.session_state
    lang = normalize(ss.get(KEY))
    if lang is None:
        lang = normalize(st.query_params.get("lang")) or _browser_language()
        ss[KEY] = lang
    set_language(lang)
    return lang


def _on_switch() -> None:
    set_language(st.session_state[KEY])
    st.query_params["lang"] = st.session_state[KEY]


def language_switch() -> str:
    """The 中文 / English control (for the sidebar); the URL keeps the choice."""
    lang = apply_language()
    st.segmented_control(
        "Language / 语言",
        list(LANGUAGES),
        format_func=LANGUAGES.get,
        key=KEY,
        on_change=_on_switch,
        label_visibility="collapsed",
        required=True,
    )
    if st.query_params.get("lang") != lang:
        st.query_params["lang"] = lang
    return lang


def query_with_language(query: dict[str, str]) -> dict[str, str]:
    """A page's own query (its settings) with the language kept in it."""
    return {**query, "lang": st.session_state.get(KEY, "en")}
