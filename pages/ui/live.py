"""Training in the page: the process-wide training slots, the Start/Pause/Resume/Stop controls and the
live fragment that advances a page's runs chunk by chunk and redraws them.

How it works: every piece of training state lives in st.session_state; the buttons only flip that
state in their callbacks; while the page trains, a fragment with `run_every` draws the panel, then
trains the page's runs for a chunk while this session holds a slot; when training ends it reruns the
whole page, which draws the fragment again without a timer.

The panel's element tree never changes shape (Streamlit addresses each element by its path of child
indices; the frontend rejects a delta whose index is beyond the children it has, "Bad delta path
index"). So:
- the fragment sits in a container created at a fixed place of the page, and everything drawn before it
  lives in containers that always exist, so its position (and Streamlit's fragment id, a hash of it)
  is the same in every run of the page;
- the fragment first lays out a fixed skeleton of placeholders (`st.empty`) and columns, the same in
  every run whatever the state (no run yet, queued, training, finished), then fills the placeholders;
  an element that is not wanted now is an empty placeholder, not a missing element;
- the choice of view is a widget outside the fragment (a change is a full rerun), not tabs inside it.

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


def panel(lane: Lane, draw: Callable[[], None]) -> None:
    """The live panel: a fixed-place container holding a fragment that draws `draw()` (which must lay out
    the same skeleton every time) under a queue notice and an error line, then trains a chunk."""
    ss = st.session_state

    @st.fragment(run_every=TICK_SECONDS if lane.phase() == "running" else None)
    def live_panel() -> None:
        apply_language()
        error_slot, queue_slot = st.empty(), st.empty()  # always there, filled or not
        rerun = first_chunk = False
        try:
            ticket = ss.get(lane.queue_key)
            if ticket is not None and lane.phase() == "running":
                queue_slot.info(queue_text(ticket))
            # Draw first, then train: the elements are re-sent at once and stay fresh while the chunk
            # runs; the charts show the previous chunk's state, one tick behind.
            draw()
            fresh = [r for r in lane.trainable() if r.trainer.step_count == 0]
            rerun = tick(lane)
            first_chunk = any(r.trainer.step_count > 0 for r in fresh)
        except Exception:
            log.exception("the live panel failed")
            if lane.phase() == "running":
                ss[lane.phase_key], rerun = "paused", True
                tell("error", _("Training hit an error and was paused. Details are in the server log."))
            else:
                error_slot.error(_("The charts could not be drawn. Details are in the server log."))
        if rerun or first_chunk:
            # scope="app": the page is drawn again, and run_every is None once training ended. After a
            # run's short first chunk (inside the full rerun Start caused, where only an app-scoped rerun
            # is allowed), it shows the first charts now rather than one tick later.
            st.rerun()

    with st.container():  # the fragment's fixed place, whatever the page drew before it
        live_panel()
