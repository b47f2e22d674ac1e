"""Training from a page: the run controls as a value, the reconciliation of that value with the process's
training workers, and the live panel that redraws once a second.

How it works. The page never trains. The controls are one segmented control whose value is what the
visitor wants for the lane's current run: "running" (Start, then Resume), "paused" or "stopped". Every
run of the page, a click's or the panel's timer's, reconciles that value with the world: it creates the
run the value asks for when there is none yet, marks it stopped, and tells the workers
(bptt/hosting/workers.py) whether to train it, which also renews the run's lease. Reconciling twice changes
nothing, and a value is sent again with every later request, so a click whose own script run was merged
into the next or stopped by it is still honoured. A run that is finished or stopped hands the control
over to the next run's number: a fresh key, so the control shows no choice and Start begins a new run.

The panel is a fragment with `run_every` (Streamlit's pattern for a live view): each timer run
reconciles (renewing the lease while the tab is open), asks for a full rerun when the lane's phase
changed (the run finished: the controls change), and draws the panel. Page runs are short (they only
read and draw), so clicks are answered at once. The panel keeps one shape in every state (a fixed
skeleton of placeholders, see pages/ui/panel.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from bptt.hosting.slots import expected_finish
from bptt.hosting.workers import shared_workers
from bptt.i18n import _, ngettext

from . import timing
from .lang import apply_language
from .session import keep, session_id, session_lock, tell

log = logging.getLogger("bptt_lab.live")

REFRESH_SECONDS = 1.0  # the panel redraws about once a second while the lane trains: as fast as one reads
WANTS = ("running", "paused", "stopped")


def duration_text(seconds: float) -> str:
    """A wait as a person reads it: seconds below a minute and a half, minutes below an hour and a half,
    else hours."""
    if seconds < 90:
        return _("{n} s").format(n=max(1, round(seconds)))
    if seconds < 90 * 60:
        return _("{n} min").format(n=round(seconds / 60))
    return _("{n:.1f} h").format(n=seconds / 3600)


def queue_text(ticket, job=None, *, back: bool = False) -> str:
    """The queue notice: the place, the expected wait (bptt.hosting.slots.TrainingSlots.expected_wait)
    and, for a run that has trained, its expected finish at the current sharing (expected_finish).
    `back`: the session trained since it last waited, so it queued again at the back."""
    slots_text = ngettext(
        "this server trains {n} session at a time",
        "this server trains {n} sessions at a time",
        ticket.training,
    ).format(n=ticket.training)
    text = _(
        "Waiting for a free training slot: {slots}, taking turns of {quantum:g} s. You are number {position} "
        "of {waiting} in the queue; your turn comes in about {wait}."
    ).format(slots=slots_text, quantum=ticket.quantum, position=ticket.position, waiting=ticket.waiting,
             wait=duration_text(ticket.wait_s))  # fmt: skip
    trainer = getattr(job, "trainer", None)
    trained, progress = getattr(trainer, "wall_time", 0.0), getattr(trainer, "progress", 0.0)
    finish = expected_finish(ticket, float(trained or 0.0), float(progress or 0.0))
    if finish is not None:
        text += " " + _("At this sharing, the run finishes in about {finish}.").format(
            finish=duration_text(finish)
        )
    if back:
        text += " " + _("Your last turn ended, so you joined the back of the queue.")
    return text


@dataclass
class LaneState:
    """A lane's record, one plain object in session_state. Its fields change by plain attribute writes:
    a session-state write is a point where a newer click can stop the script run (fast reruns), and a
    run built must never be forgotten halfway, or the next page run would build it again."""

    latest: tuple[int, Any] | None = None  # (n, job) of the lane's latest run
    next: int = 1  # the number of the next run
    fresh: Any = None  # a run built by a page run whose page has not yet taken note of it

    def release(self) -> None:
        """The session is gone (bptt/hosting/sessions.py): let go of its runs."""
        self.latest = self.fresh = None


@dataclass(frozen=True)
class Lane:
    """One page's training in session_state: `<prefix><n>` is the control of the lane's n-th run,
    `<name>_lane` its LaneState, `phase_key` the phase derived from them (idle, running, paused) and
    `queue_key` the queue ticket while it waits for a slot. A job is anything the workers train
    (`advance`, `finished`, `interrupt`) with a writable `stopped`."""

    name: str
    prefix: str
    phase_key: str
    queue_key: str

    def state(self) -> LaneState:
        record = st.session_state.setdefault(f"{self.name}_lane", LaneState())
        keep(record)
        return record

    def latest(self) -> tuple[int, Any] | None:
        return self.state().latest

    def job(self) -> Any:
        latest = self.latest()
        return latest[1] if latest else None

    def target(self) -> int:
        """The number the control speaks for: the latest run's while it can still train, else the next."""
        state = self.state()
        if state.latest is not None and not state.latest[1].finished:
            return state.latest[0]
        return state.next

    def control_key(self) -> str:
        return f"{self.prefix}{self.target()}"

    def phase(self) -> str:
        return st.session_state.get(self.phase_key, "idle")


def reconcile(lane: Lane, create: Callable[[], Any]) -> str:
    """Make the lane's run and the workers match the control's value; returns the phase. `create()` builds
    the run from the page's settings, or returns None after telling the visitor why."""
    with session_lock():  # an overlapping page run of the session waits, then finds the run built
        return _reconcile(lane, create)


def _reconcile(lane: Lane, create: Callable[[], Any]) -> str:
    ss = st.session_state
    record, n = lane.state(), lane.target()
    want = ss.get(f"{lane.prefix}{n}")
    job = record.latest[1] if record.latest is not None and record.latest[0] == n else None
    if job is None and want in ("running", "paused"):
        job = create()  # its session-state reads come first; from building the run on, plain writes
        record.next = n + 1  # a failed Start leaves a fresh, unselected control
        if job is not None:
            record.latest, record.fresh = (n, job), job
    if job is not None and want == "stopped":
        job.stopped = True
    elif job is None and want == "stopped":  # Stop where no run is (it finished just before the click):
        record.next = n + 1  # nothing to stop, and a fresh control offers Start again
    running = job is not None and not job.finished and want == "running"
    state = shared_workers().reconcile(session_id(), lane.name, job, running)
    if state.error is not None and job is not None:
        job.stopped = True
        tell("error", _("Training hit an error and was stopped. Details are in the server log."))
    phase = "idle" if job is None or job.finished else ("running" if want == "running" else "paused")
    ss[lane.phase_key], ss[lane.queue_key] = phase, state.ticket if phase == "running" else None
    return phase


def controls(lane: Lane, *, can_start: bool) -> None:
    """Start / Resume, Pause and Stop as one value: what the visitor wants for the lane's current run."""
    phase, has_run = lane.phase(), lane.latest() is not None and lane.latest()[0] == lane.target()
    go = _("Start") if not has_run else (_("Resume") if phase == "paused" else _("Running"))
    labels = {"running": go, "paused": _("Pause"), "stopped": _("Stop")}
    with st.container(key=f"{lane.name}_controls"):
        st.segmented_control(
            _("Training"),
            WANTS,
            format_func=labels.get,
            key=lane.control_key(),
            required=True,
            disabled=not can_start and not has_run,
            label_visibility="collapsed",
        )


def panel(
    lane: Lane,
    create: Callable[[], Any],
    draw: Callable[[], None],
    playing: Callable[[], bool] = lambda: False,
) -> None:
    """The live panel: a fragment that, on each of its runs, reconciles the lane, shows the queue notice
    and an error line, and calls `draw()` (which must lay out the same skeleton every time). `playing()`:
    something else moves on the clock (a replay), so the panel redraws while it is true."""
    ss = st.session_state
    replaying = playing()

    @st.fragment(run_every=REFRESH_SECONDS if lane.phase() == "running" or replaying else None)
    def live() -> None:
        with timing.timed("panel", page=lane.name, view=ss.get("ui_view")) as extra:
            _live()
            if timing.PATH and (trainer := getattr(lane.job(), "trainer", None)) is not None:
                extra.update(steps=trainer.step_count, steps_at=time.time())  # read by page_runs.py

    def _live() -> None:
        apply_language()
        before = lane.phase()
        if reconcile(lane, create) != before or replaying != playing():
            st.rerun(scope="app")  # the run finished or failed (the controls change), or a replay ended
        with st.container():  # the panel's fixed place
            error_slot, queue_slot = st.empty(), st.empty()  # always there, filled or not
            try:
                # A waiting session only moves forward (bptt/hosting/slots.py); after a turn it queues
                # again at the back, and the notice says so. `wait`: the lane's steps when this wait
                # began, and whether it trained before it (a turn ended).
                ticket, wait = ss.get(lane.queue_key), ss.get(f"{lane.name}_wait")
                steps = shared_workers().steps(session_id(), lane.name)
                if ticket is not None:
                    if wait is None or steps > wait[0]:
                        wait = (steps, wait is not None)
                    queue_slot.info(queue_text(ticket, lane.job(), back=wait[1]))
                elif lane.phase() != "running":
                    wait = None
                ss[f"{lane.name}_wait"] = wait
                draw()
            except Exception:
                log.exception("the live panel failed")
                error_slot.error(_("The charts could not be drawn. Details are in the server log."))

    live()
