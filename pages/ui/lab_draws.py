"""The Gradient lab's estimators over draws as a job of the training workers (bptt/hosting/workers.py):
the page never draws in its own script run. "Draw the estimators" writes a wish (the settings' key);
every page run, and a fragment once a second while the draws run, reconciles that wish with the workers,
which advance the job a chunk of draws at a time in the session's training slot and drop it when no page
run has renewed its lease for a few seconds (a closed tab). The page only reads the job and draws."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from bptt.hosting.workers import shared_workers
from bptt.i18n import _
from bptt.lab import reports as gradlab

from .lang import apply_language
from .live import queue_text
from .session import session_id, session_lock

DRAW_LANE = "lab_draws"  # the lab's lane in the training workers (Train's runs have their own)
REFRESH_SECONDS = 1.0  # the progress bar redraws about once a second while the draws run


@dataclass
class Draws:
    """The lab's draws in session_state: the settings they are for and their job. Changed by plain
    attribute writes only, so that a newer click that stops a page run cannot leave it half-written."""

    key: tuple | None = None
    job: gradlab.EstimatorDraws | None = None


def draws_record() -> Draws:
    return st.session_state.setdefault("lab_draw_job", Draws())


def want_draws(key: tuple | None) -> None:
    """Callback of "Draw the estimators" (the settings' key) and "Stop drawing" (None): one write of the
    visitor's wish, which every later page run reconciles with the workers."""
    st.session_state["lab_draw_want"] = key


def reconcile_draws(key: tuple, build) -> str:
    """Make the workers match the wish for the draws of these settings; returns the phase: "idle",
    "running", "done" or "failed". `build()` makes the job (ValueError: the draws are over the host's
    budget). Reconciling twice changes nothing; a job whose settings are no longer shown, or that the
    visitor stopped, keeps what it drew and goes on when it is wished for again, until draws of other
    settings are asked for."""
    with session_lock():
        ss, rec = st.session_state, draws_record()
        wanted = ss.get("lab_draw_want") == key
        if wanted and rec.key != key:
            job = build()
            if rec.job is not None:
                rec.job.stopped = True  # draws of other settings: replaced
            rec.key, rec.job = key, job
        job = rec.job if rec.key == key else None
        running = wanted and job is not None and not job.finished
        state = shared_workers().reconcile(session_id(), DRAW_LANE, job if running else None, running)
        ss["lab_draw_ticket"] = state.ticket if running else None
    if job is None:
        return "idle"
    if job.result is not None:
        return "done"
    if job.error is not None:
        return "failed"
    return "running" if running else "idle"


def draw_progress(key: tuple, build) -> None:
    """The draws' progress bar: a fragment that reconciles (renewing the workers' lease while the tab is
    open) and redraws once a second, and reruns the page when the draws end."""

    @st.fragment(run_every=REFRESH_SECONDS)
    def bar() -> None:
        apply_language()
        if reconcile_draws(key, build) != "running":
            st.rerun(scope="app")
        ticket, job = st.session_state.get("lab_draw_ticket"), draws_record().job
        if ticket is not None:
            st.progress(0.0, text=queue_text(ticket))
        else:
            fraction = 0.0 if job is None else min(job.fraction, 1.0)
            st.progress(fraction, text=_("Drawing the estimators… {pct:.0%}").format(pct=fraction))

    bar()


def paused_fraction(key: tuple) -> float | None:
    """How far stopped draws of these settings got, or None when there are none."""
    rec = draws_record()
    if rec.key != key or rec.job is None or rec.job.finished:
        return None
    return rec.job.fraction
