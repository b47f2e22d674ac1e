"""Messages in the reader's language: English (the source) or Chinese, by GNU gettext catalogs.

Every string a user reads is written in English in the code and wrapped in `_()`; Babel extracts them
(`python -m bptt.i18n.catalog update`, by babel.cfg) into `bptt/i18n/locale/messages.pot` and merges them into
the Chinese catalog `bptt/i18n/locale/zh/LC_MESSAGES/messages.po`, compiled (`... compile`) to `messages.mo`
beside it; the app reads only the .mo, with the standard library's gettext. A message without a
translation falls back to its English text (gettext's own fallback), never to an identifier.

The language is a context variable, not a global: one Streamlit process serves many visitors, each
script run (and each fragment run, which Streamlit starts in a fresh thread) sets its own.

    from bptt.i18n import _, use_language
    with use_language("zh"):
        _("Perplexity")  # '困惑度'
"""

from __future__ import annotations

import contextvars
import functools
import gettext
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
DEFAULT = "en"
LANGUAGES = {"en": "English", "zh": "中文"}  # code -> the language's own name, for the switch

_current: contextvars.ContextVar[str] = contextvars.ContextVar("bptt_language", default=DEFAULT)


def normalize(lang: object) -> str | None:
    """A supported language code for a tag such as 'zh', 'zh-CN', 'zh_Hans_CN', 'en-US'; None if none."""
    if not isinstance(lang, str):
        return None
    base = lang.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def negotiate(accept_language: str | None) -> str:
    """The best supported language for an HTTP Accept-Language header (or a browser locale such as
    'zh-CN'), by the q-values the browser sent; English when nothing matches."""
    best, best_q = DEFAULT, -1.0
    for part in (accept_language or "").split(","):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        lang = normalize(tag)
        # Ties keep the browser's order: a later tag must be strictly preferred to win.
        if lang is not None and q > best_q and q > 0:
            best, best_q = lang, q
    return best


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of `lang` (cached per process); a NullTranslations (English) if none."""
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)


def get_language() -> str:
    return _current.get()


def set_language(lang: object) -> str:
    """Make `lang` the language of this thread's context (unsupported tags give English)."""
    code = normalize(lang) or DEFAULT
    _current.set(code)
    return code


@contextmanager
def use_language(lang: object) -> Iterator[str]:
    """Within the block, messages are in `lang`."""
    token = _current.set(normalize(lang) or DEFAULT)
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def _(message: str) -> str:
    """`message` in the current language (English when untranslated)."""
    return translations(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Singular or plural form for n, in the current language."""
    return translations(_current.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now (module-level tables, translated with
    `_()` where they are shown)."""
    return message


# argparse's own messages (Python 3.11), which it looks up with gettext.gettext in the default domain
# "messages": our catalog carries their translations, so `python -m bptt --help` is all in one language.
ARGPARSE_MESSAGES = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("expected one argument"),
)


def cli_language() -> str:
    """The CLI's language from the environment, as gettext reads it (LANGUAGE, LC_ALL, LC_MESSAGES,
    LANG)."""
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return normalize(value.split(":")[0].split(".")[0]) or DEFAULT
    return DEFAULT


def setup_cli() -> str:
    """Put the command line in the environment's language: our messages by `set_language`, argparse's
    ("usage:", "options", its errors) by binding gettext's default domain to our catalogs."""
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    return set_language(cli_language())
