"""One visitor's state in st.session_state: the run registry, queued messages, and the guard every
callback runs under. Callbacks only change session state; the next run of the page draws it.

Clicks that land while another is handled (Streamlit 1.67, read in its source and reproduced in a
browser: tests/test_callbacks.py). Every access to st.session_state is a yield point (SafeSessionState
calls the script runner's execution-control check), inside a widget callback too. With
`runner.fastReruns` (Community Cloud forces it on) a click stops the running script runner and starts
a new one, and the stopped runner raises StopException at its next yield point. Two ways a click was
lost here, both when the visitor clicked another widget within a few hundred milliseconds of Start:
- the Start callback was stopped halfway (it builds a model between two session-state accesses): its
  first writes kept, the rest lost, and the click not replayed. A five-line app shows it:
  `ss["a"] = 1; time.sleep(0.3); ss["b"] = 1` in an on_click keeps `a` and loses `b`;
- the Start click's runner was stopped before it applied the click (a fresh server importing PyTorch in
  the background starts runners slowly), or before its thread had taken the click at all, and the new
  runner knew only the second click's values.

`_gated` wraps SafeSessionState.on_script_will_rerun, where a run applies the browser's widget values and
calls the callbacks: under the session's gate (one lock per session), so two runners never write the
session state at once (why Streamlit made accesses yield); with one yield point at the start, where a
stopped runner leaves its values, button presses included, to the session's next run (merged as
Streamlit merges two requests waiting for one run: the newer values win, an older press is kept); and
with no yield point after it, so every callback runs to its end. The stopped runner then ends at its
next yield point, and the new runner, waiting at the gate, reads the first click's whole effect.
`_carry_over` wraps AppSession.request_rerun for the last case: a runner whose thread has not yet taken
its request is stopped there, and its values are merged into the new request in the same way.
"""

from __future__ import annotations

import logging
import threading
import uuid
import weakref
from contextlib import contextmanager

import streamlit as st
from streamlit import config
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException
from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequestType, _coalesce_widget_states
from streamlit.runtime.state import SafeSessionState

from bptt.data import CorpusError
from bptt.i18n import _
from bptt.runs import Run, RunRegistry

log = logging.getLogger("bptt_lab.ui")


def state():
    return st.session_state


def session_id() -> str:
    """This session's name in the process-wide training slots."""
    return state().setdefault("session_id", uuid.uuid4().hex)


def registry() -> RunRegistry:
    """The session's runs, shared by every page of the session."""
    return state().setdefault("registry", RunRegistry())


def tell(kind: str, message: str) -> None:
    """Queue a message ('error' or 'info') for the next full run of the page to show once."""
    ss = state()
    ss["messages"] = [*ss.get("messages", []), (kind, message)]


def show_messages() -> None:
    """Show (and forget) the queued messages."""
    for kind, message in state().pop("messages", []):
        (st.error if kind == "error" else st.info)(message)


class _Gate:
    """A session's callback gate, and the button presses of a run stopped before it applied them. The
    registry holds it weakly: the session's state keeps it (`keep_gate`)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.pending = None  # WidgetStates of a stopped run, for the next run


_gates: weakref.WeakValueDictionary[str, _Gate] = weakref.WeakValueDictionary()
_gates_lock = threading.Lock()
GATE_TIMEOUT = 30.0  # seconds; a callback holds the gate for as long as it runs (building a model)


def _gate(session: str) -> _Gate:
    with _gates_lock:
        gate = _gates.get(session)
        if gate is None:
            gate = _gates[session] = _Gate()
        return gate


def keep_gate() -> None:
    """Top of app.py: the session's state keeps its gate alive between runs."""
    ctx = get_script_run_ctx()
    if ctx is not None:
        st.session_state["callback_gate"] = _gate(ctx.session_id)


def _gated(apply):
    """SafeSessionState.on_script_will_rerun (a run applies the browser's widget values and calls the
    callbacks) behind the session's callback gate, so that a callback still running in a stopped runner
    ends first; and a run stopped before it applied its values leaves its button presses to the next."""

    def on_script_will_rerun(self, fresh_widget_states, *args, **kwargs):
        ctx = get_script_run_ctx()
        if ctx is None:
            return apply(self, fresh_widget_states, *args, **kwargs)
        gate = _gate(ctx.session_id)
        acquired = gate.lock.acquire(timeout=GATE_TIMEOUT)
        try:
            if gate.pending is not None:
                fresh_widget_states = _coalesce_widget_states(gate.pending, fresh_widget_states)
                gate.pending = None
            try:
                self._yield_callback()  # the one yield point: a stopped run stops here, unapplied
            except ScriptControlException:
                gate.pending = fresh_widget_states
                raise
            with _no_yield(self):  # every callback runs to its end (see the top of this file)
                return apply(self, fresh_widget_states, *args, **kwargs)
        finally:
            if acquired:
                gate.lock.release()

    on_script_will_rerun.gated = True
    return on_script_will_rerun


def take_untaken(requests):
    """The widget values of the request a script runner's thread has not taken yet (its ScriptRequests),
    stopping the runner so that it never takes it; None when there is none (running, or stopped)."""
    with requests._lock:
        if requests._state != ScriptRequestType.RERUN:
            return None
        requests._state = ScriptRequestType.STOP
        return requests._rerun_data.widget_states


def _carry_over(request_rerun):
    """AppSession.request_rerun: a click that stops the running script runner (fast reruns) keeps the
    values of a request that runner had not taken yet, button presses included."""

    def wrapper(self, client_state):
        runner = self._scriptrunner
        if (
            client_state is not None
            and not client_state.fragment_id
            and runner is not None
            and config.get_option("runner.fastReruns")
        ):
            untaken = take_untaken(runner._requests)
            if untaken is not None and untaken.widgets:
                merged = _coalesce_widget_states(untaken, client_state.widget_states)
                client_state.widget_states.CopyFrom(merged)
        return request_rerun(self, client_state)

    wrapper.carries_over = True
    return wrapper


if not getattr(SafeSessionState.on_script_will_rerun, "gated", False):
    SafeSessionState.on_script_will_rerun = _gated(SafeSessionState.on_script_will_rerun)
if not getattr(AppSession.request_rerun, "carries_over", False):
    AppSession.request_rerun = _carry_over(AppSession.request_rerun)


@contextmanager
def _no_yield(safe: SafeSessionState):
    """Session-state accesses through `safe` do not yield while the block runs."""
    original = safe._yield_callback
    object.__setattr__(safe, "_yield_callback", lambda: None)  # SafeSessionState overrides __setattr__
    try:
        yield
    finally:
        object.__setattr__(safe, "_yield_callback", original)


@contextmanager
def guarded(what: str):
    """Every callback's body: no traceback ever reaches a visitor: log it on the server and queue a short
    error for the page. `what` is already translated. (That a callback runs to its end whatever the visitor
    clicks meanwhile is `_gated`'s work, for every callback.)"""
    try:
        yield
    except CorpusError as e:
        tell("error", e.message)
    except Exception:
        log.exception("%s failed", what)
        tell("error", _("{what} failed. The details are in the server log.").format(what=what))


def steered_key(name: str) -> str:
    """The widget key for session_state[name], a value that the visitor sets with a widget and the app
    sets in callbacks (Start shows the live results). A callback cannot just write the widget's key: the
    browser sends every widget's value with each click, so a click that leaves before the callback's run
    has redrawn the widget sends the old value back and undoes the callback's write. Each `steer` gives
    the widget a fresh key, and a value sent for an older key has no widget to set."""
    return f"{name}_w{state().get(name + '_gen', 0)}"


def steer(name: str, value) -> None:
    """From a callback: set session_state[name]; its widget is redrawn under a fresh key showing it."""
    ss = state()
    ss[name] = value
    ss[name + "_gen"] = ss.get(name + "_gen", 0) + 1


def follow(name: str) -> None:
    """on_change of a steered widget: session_state[name] takes the widget's value."""
    ss = state()
    ss[name] = ss[steered_key(name)]


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


def interrupt_in_flight(runs: list[Run | None]) -> None:
    """A click starts a full run while the previous fragment may still be inside a training chunk: ask
    those runs to stop after their current step, so that the click is answered now."""
    for run in runs:
        if run is not None:
            run.trainer.interrupt()
