"""Training in the page: the process-wide training slots, the Start/Pause/Resume/Stop controls and the
live panel that advances a page's runs chunk by chunk and redraws them.

How it works: every piece of training state lives in st.session_state; the buttons only flip that
state in their callbacks. While the page trains, each tick is one ordinary full run of the page: it
draws the whole page (the panel shows the runs as they are), and then, once everything is drawn
(app.py calls `train_after_page`), trains the page's runs for a chunk while this session holds a slot.
The next tick comes from an empty fragment with `run_every`, whose timer run does nothing but
`st.rerun()`; when training ends the page reruns once more and the timer is gone.

Why not redraw the panel in the fragment's own runs: a fragment run and a click's full run then both
send the panel's elements, and under load the browser once received an element addressed below a
container that did not have it ("Bad delta path index 5 (should be between [0, 1])") and went blank.
The timer's fragment draws no element, so whatever the order in which a click's run and a timer's run
reach the browser, every element comes from a full run, which Streamlit sends in order from the top.

The page still keeps one shape (Streamlit addresses each element by its path of child indices):
- the panel sits in a container created at a fixed place of the page, after containers that always
  exist;
- `draw()` first lays out a fixed skeleton of placeholders (`st.empty`) and columns, the same in every
  run whatever the state (no run yet, queued, training, finished), then fills the placeholders;
- the choice of view is a widget outside the panel (a change is a full rerun), not tabs inside it.

A page may train several runs at once (a comparison): a `Lane` names where its phase and its runs are
kept; the runs of one session share the session's one training slot and take turns inside a chunk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from bptt.device import configure_threads
from bptt.i18n import _
from bptt.runs import Run
from bptt.slots import TrainingSlots, shared_slots

from .lang import apply_language
from .session import guarded, registry, session_id, tell

log = logging.getLogger("bptt_lab.live")

TICK_SECONDS = 0.2  # run_every while training: the browser asks for the next chunk soon after a redraw
# Training per tick: long, so that most of a session's wall time trains rather than redraws (a click
# does not wait for it: the page interrupts a chunk in flight); the first chunk of a run is short, so
# the first charts come quickly after Start.
WORK_SECONDS = 1.5
FIRST_WORK_SECONDS = 0.25
# A queued session waits for a slot inside its tick, up to this long, instead of redrawing unchanged
# charts at the tick rate: those redraws (pure Python, under the GIL) slowed the sessions that train
# (tests/test_load.py, 2 cores, H=128: 3 sessions made 16 steps/s in all where 2 made 100).
QUEUE_SECONDS = 2.0


def training_slots() -> TrainingSlots:
    """At most BPTT_MAX_TRAINING sessions (default 2) train at once; the others queue and take turns.
    Each slot gets cores / slots of torch's process-wide threads."""
    slots = shared_slots()
    configure_threads(slots.capacity)
    return slots


def release_slot() -> None:
    training_slots().release(session_id())


@dataclass(frozen=True)
class Lane:
    """Where a page keeps its training in session_state: its phase (idle / running / paused) and the
    run id, or list of run ids, it trains now."""

    phase_key: str = "phase"
    runs_key: str = "active"
    queue_key: str = "queue"
    # What the lane trains: "registry" (session_state[runs_key] holds run ids of the session's registry,
    # the Train page) or "object" (it holds the trainable objects themselves: anything with `.trainer`
    # having `step_count`, `run_for(seconds)` and `interrupt()`, and `.finished` and `.stopped`, e.g. the
    # Compare page's wrapped Comparison).
    kind: str = "registry"

    def phase(self) -> str:
        return st.session_state.get(self.phase_key, "idle")

    def runs(self) -> list[Run]:
        ids = st.session_state.get(self.runs_key)
        ids = ids if isinstance(ids, list) else [ids]
        if self.kind == "object":
            return [r for r in ids if r is not None]
        return [r for r in (registry().get(i) for i in ids) if r is not None]

    def trainable(self) -> list[Run]:
        return [r for r in self.runs() if not r.finished]

    def set_phase(self, phase: str) -> None:
        """Callback of Pause and Resume."""
        with guarded(_("Pause or resume")):
            st.session_state[self.phase_key] = phase
            if phase != "running":
                release_slot()

    def stop(self) -> None:
        """Callback of Stop: the runs are kept and never train again."""
        with guarded(_("Stopping")):
            for run in self.runs():
                run.stopped = True
            st.session_state[self.phase_key] = "idle"
            release_slot()

    def begin(self, run_ids) -> None:
        """Make these runs (ids, or objects for kind "object") the ones that train (call it from a Start
        callback)."""
        for run in self.trainable():
            run.stopped = True  # a lane trains one set of runs at a time
        st.session_state[self.runs_key] = run_ids
        st.session_state[self.phase_key] = "running"


def controls(lane: Lane, on_start: Callable[[], None], *, can_start: bool, prefix: str = "btn") -> None:
    """Start, Pause, Resume and Stop, enabled by the lane's phase; keys `<prefix>_start` and so on."""
    phase = lane.phase()
    st.button(
        _("Start"),
        key=f"{prefix}_start",
        type="primary",
        on_click=on_start,
        disabled=phase == "running" or not can_start,
    )
    st.button(
        _("Pause"),
        key=f"{prefix}_pause",
        on_click=lane.set_phase,
        args=("paused",),
        disabled=phase != "running",
    )
    st.button(
        _("Resume"),
        key=f"{prefix}_resume",
        on_click=lane.set_phase,
        args=("running",),
        disabled=phase != "paused" or not lane.trainable(),
    )
    st.button(_("Stop"), key=f"{prefix}_stop", on_click=lane.stop, disabled=phase == "idle")


def tick(lane: Lane) -> bool:
    """Train the lane's runs for one chunk when this session holds a training slot (waiting for one up to
    QUEUE_SECONDS); True when the page must rerun because training ended."""
    ss = st.session_state
    ss[lane.queue_key] = None
    if lane.phase() != "running":
        return False
    runs = lane.trainable()
    if runs:
        ticket = training_slots().request(session_id())
        deadline = time.monotonic() + QUEUE_SECONDS
        while not ticket.granted and time.monotonic() < deadline:
            time.sleep(0.1)  # sleeping releases the GIL: the sessions that hold a slot train meanwhile
            ticket = training_slots().request(session_id())
        if ticket.granted:
            for run in runs:  # the runs of a session share its slot, in turns
                first = run.trainer.step_count == 0
                run.trainer.run_for((FIRST_WORK_SECONDS if first else WORK_SECONDS) / len(runs))
        else:
            ss[lane.queue_key] = ticket
    if not lane.trainable():
        ss[lane.phase_key] = "idle"
        release_slot()
        return True
    return False


def queue_text(ticket) -> str:
    return _(
        "Waiting for a free training slot: this server trains {training} sessions at a time. You are "
        "number {position} of {waiting} in the queue; runs take turns every few seconds."
    ).format(training=ticket.training, position=ticket.position, waiting=ticket.waiting)


AFTER_PAGE = "after_page"  # session_state: what app.py runs once the page is drawn (see panel)
IN_PAGE_RUN = "live_in_page_run"


def panel(lane: Lane, draw: Callable[[], None]) -> None:
    """The live panel: a fixed-place container with a tick timer, a queue notice, an error line and
    `draw()` (which must lay out the same skeleton every time). While the lane trains, its chunk of
    training runs after the whole page is drawn (app.py calls `train_after_page`), so that nothing
    drawn below the panel waits for the chunk."""
    ss = st.session_state
    with st.container():  # the panel's fixed place, whatever the page drew before it
        _ticker(lane)
        error_slot, queue_slot = st.empty(), st.empty()  # always there, filled or not
        try:
            ticket = ss.get(lane.queue_key)
            if ticket is not None and lane.phase() == "running":
                queue_slot.info(queue_text(ticket))
            draw()
        except Exception:
            log.exception("the live panel failed")
            error_slot.error(_("The charts could not be drawn. Details are in the server log."))
    if lane.phase() == "running":
        ss[AFTER_PAGE] = lambda: train_after_page(lane)


def _ticker(lane: Lane) -> None:
    """An empty fragment whose only job is its `run_every` timer: each timer run asks for a full run of
    the page (st.rerun), which draws everything and then trains a chunk. The fragment draws nothing, so
    a timer run sends the browser no element at all: only full runs change the page (why: see the top
    of this file)."""
    ss = st.session_state
    ss[IN_PAGE_RUN] = True

    @st.fragment(run_every=TICK_SECONDS if lane.phase() == "running" else None)
    def ticker() -> None:
        apply_language()
        if ss.pop(IN_PAGE_RUN, False):
            return  # called by the page's own run, which trains at its end
        if lane.phase() == "running":  # a timer left over from before a Pause does nothing
            st.rerun()

    ticker()


def train_after_page(lane: Lane) -> None:
    """One tick, once the page is drawn: train the lane's runs for a chunk; rerun the page when training
    ended (its timer stops) or after a run's first short chunk (its first charts show at once)."""
    ss = st.session_state
    rerun = first_chunk = False
    try:
        fresh = [r for r in lane.trainable() if r.trainer.step_count == 0]
        rerun = tick(lane)
        first_chunk = any(r.trainer.step_count > 0 for r in fresh)
    except Exception:
        log.exception("training failed")
        if lane.phase() == "running":
            ss[lane.phase_key], rerun = "paused", True
            tell("error", _("Training hit an error and was paused. Details are in the server log."))
    if rerun or first_chunk:
        st.rerun()
