"""One visitor's state in st.session_state: the run registry, queued messages, and the guard every
callback runs under. Callbacks only change session state; the page body derives what it shows.

What holds the session's runs is handed to the process's reaper (bptt/hosting/sessions.py), which
releases it once the session has been disconnected for longer than Streamlit would keep it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from contextlib import contextmanager

import streamlit as st

from bptt.data import CorpusError
from bptt.hosting.runs import RunRegistry
from bptt.hosting.sessions import shared_reaper
from bptt.i18n import _

log = logging.getLogger("bptt_lab.ui")


def state():
    return st.session_state


def session_id() -> str:
    """This session's name in the process-wide training slots."""
    return state().setdefault("session_id", uuid.uuid4().hex)


def session_lock() -> threading.RLock:
    """One lock per session, held while a page run makes the session's runs match its controls. Two page
    runs of one session can overlap: with fast reruns a click starts a new script run while the one it
    stops goes on until its next session-state access (building a model takes a while)."""
    return state().setdefault("session_lock", threading.RLock())


def on_phone() -> bool:
    """The visitor's browser is a phone's: its User-Agent says "Mobile", as iOS Safari's and Android
    Chrome's do (a tablet's says it is a desktop, and has the room of one). Pages put Start and the first
    chart in the first screen there."""
    headers = st.context.headers
    return "Mobile" in (headers.get("User-Agent", "") if headers else "")


# A page with a timed fragment asks for a full run when its websocket reconnects (an idle page does
# not); the heartbeat is such a fragment, so a session that comes back says so at once.
HEARTBEAT_SECONDS = 30
GRACE_MARGIN = 2.0  # seconds past Streamlit's own keeping of a disconnected session


def _reaper():
    return shared_reaper(st.get_option("server.disconnectedSessionTTL") + GRACE_MARGIN)


def _closed(session: str) -> None:
    _reaper().away(session)


@st.cache_resource(scope="session", on_release=_closed, show_spinner=False)
def _connection(session: str) -> str:
    """Once per connection of the session: Streamlit releases a session's scoped resources when its
    websocket closes (then `_closed`), and the first run after a reconnect makes it again."""
    _reaper().back(session)
    return session


def keep(*holders) -> None:
    """Hand objects that hold the session's runs (each with a `release()`) to the reaper."""
    _reaper().attach(session_id(), *holders)
    _connection(session_id())


def registry() -> RunRegistry:
    """The session's runs, shared by every page of the session."""
    runs = state().setdefault("registry", RunRegistry())
    keep(runs)
    return runs


def heartbeat() -> None:
    """While the session keeps runs: the slow timed fragment (HEARTBEAT_SECONDS) that draws nothing."""
    if state().get("registry"):

        @st.fragment(run_every=HEARTBEAT_SECONDS)
        def beat() -> None:
            keep()

        beat()


def tell(kind: str, message: str) -> None:
    """Queue a message ('error' or 'info') for the next full run of the page to show once."""
    ss = state()
    ss["messages"] = [*ss.get("messages", []), (kind, message)]


def show_messages() -> None:
    """Show (and forget) the queued messages."""
    for kind, message in state().pop("messages", []):
        (st.error if kind == "error" else st.info)(message)


@contextmanager
def guarded(what: str):
    """Every callback's body: no traceback ever reaches a visitor: log it on the server and queue a short
    error for the page. `what` is already translated."""
    try:
        yield
    except CorpusError as e:
        tell("error", e.message)
    except Exception:
        log.exception("%s failed", what)
        tell("error", _("{what} failed. The details are in the server log.").format(what=what))


def run_namer():
    """A total run-id → name function for widgets' format_func. Total: Streamlit serializes the value the
    browser last sent with it, and after Reset or Remove that value can name a run no longer kept; None
    would make the serializer raise ('bad argument type for built-in operation'). It reads no session
    state when called (a format_func must not)."""
    names = {r.id: r.name for r in registry().list()}
    return lambda run_id: names.get(run_id, str(run_id))


def prune(key: str) -> list[int]:
    """Drop from the run-id list in session_state[key] the ids the registry no longer keeps."""
    ss = state()
    ss[key] = [i for i in ss.get(key, []) if i in registry()]
    return ss[key]
