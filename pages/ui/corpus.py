"""The training text for a page's settings: built-in corpora cached once per process, uploads per session."""

from __future__ import annotations

import streamlit as st

from bptt.config import RunConfig
from bptt.corpora import CorpusUnavailable, corpus_title, load_corpus
from bptt.data import Corpus, CorpusError
from bptt.i18n import _, get_language, use_language

UPLOAD_KEY = "upload_file"


@st.cache_resource(max_entries=6, ttl=3600, show_spinner=False)
def _builtin(name: str, tokenizer: str, max_tokens: int, max_vocab: int | None, lang: str) -> Corpus:
    with use_language(lang):  # the fallback's notice is written in the language of the page
        return load_corpus(name, tokenizer=tokenizer, max_tokens=max_tokens, max_vocab=max_vocab)


def builtin_corpus(name: str, tokenizer: str, max_tokens: int, max_vocab: int | None) -> Corpus:
    """The Time Machine or the bundled Shakespeare: read-only, shared by every session (one per
    language, for the notice of a failed download). The ttl lets a failed download of The Time Machine
    (served by the bundled fallback) be retried later."""
    return _builtin(name, tokenizer, max_tokens, max_vocab, get_language())


def current_corpus(cfg: RunConfig) -> tuple[Corpus | None, str | None]:
    """The corpus for these settings and the error of loading it, if any. The corpus is loaded when the
    settings change; a load that fails (a bad upload) is remembered, and the corpus loaded before stays
    in use."""
    ss = st.session_state
    upload = ss.get(UPLOAD_KEY) if cfg.corpus == "upload" else None
    max_vocab = cfg.max_vocab if cfg.tokenizer == "chars" else None
    key = (cfg.corpus, cfg.tokenizer, cfg.max_tokens, max_vocab, upload.file_id if upload else None)
    kept_key, kept = ss.get("corpus", (None, None))
    failed_key, error = ss.get("corpus_failed", (None, None))
    if key == failed_key:
        return kept, error
    if key == kept_key or (cfg.corpus == "upload" and upload is None):
        return kept, None
    try:
        if cfg.corpus == "upload":
            opts = {"tokenizer": cfg.tokenizer, "max_tokens": cfg.max_tokens, "max_vocab": max_vocab}
            corpus = load_corpus("upload", upload=(upload.name, upload.getvalue()), **opts)
        else:
            with st.spinner(_("Loading the corpus…")):
                corpus = builtin_corpus(cfg.corpus, cfg.tokenizer, cfg.max_tokens, max_vocab)
    except (CorpusError, CorpusUnavailable) as e:
        ss["corpus_failed"] = (key, getattr(e, "message", str(e)))
        return kept, ss["corpus_failed"][1]
    ss["corpus"], ss["corpus_failed"] = (key, corpus), (None, None)
    return corpus, None


def corpus_box(cfg: RunConfig) -> tuple[Corpus | None, str | None]:
    """The sidebar's Text section's tail: the uploader when asked for, what is in use, an excerpt."""
    ss = st.session_state
    if cfg.corpus == "upload":
        st.file_uploader(_("Your text (.txt, UTF-8, at most 2 MB)"), type=["txt"], key=UPLOAD_KEY)
    corpus, error = current_corpus(cfg)
    if cfg.corpus == "upload" and ss.get(UPLOAD_KEY) is None:
        st.info(_("Choose a .txt file. Until then the text loaded before stays in use."))
    return corpus, error


def corpus_facts(corpus: Corpus | None) -> None:
    if corpus is not None:
        st.text(
            _("In use: {name}\n{tokens:,} tokens, vocabulary of {vocab}").format(
                name=corpus_title(corpus.name), tokens=len(corpus), vocab=len(corpus.vocab)
            )
        )
        with st.expander(_("Excerpt")):
            st.code("".join(corpus.vocab.to_tokens(corpus.corpus[:300])), language=None, wrap_lines=True)


def corpus_notices(corpus: Corpus | None, error: str | None) -> None:
    if error:
        st.error(error)
        if corpus is not None:
            st.text(_("Still using: {name}").format(name=corpus_title(corpus.name)))
    if corpus is not None and corpus.notice:
        st.warning(corpus.notice)
