"""Replays on the training page: a recorded run of the book's experiment (bptt/hosting/replays.py) put
among the session's runs, where it plays back as if it trained now, at a chosen speed, and overlays
with the visitor's own runs. It takes no training slot: nothing trains, the clock indexes the recording.
"""

from __future__ import annotations

import math

import streamlit as st

from bptt.corpora import corpus_title
from bptt.hosting.recordings import SHIPPED, SPEEDS, load_shipped, shipped
from bptt.hosting.replays import Replay, ReplayRun
from bptt.i18n import _
from bptt.truncation import Strategy

from .session import guarded, prune, registry, tell

CHOICE_KEY, SPEED_KEY = "ui_replay", "ui_replay_speed"


def speed_text(speed: float) -> str:
    return _("instant") if math.isinf(speed) else f"{speed:g}×"


def recording_text(key: str) -> str:
    """ "The book's experiment · regular (k=10)", in the current language."""
    preset, _changes = SHIPPED[key]
    return f"{_(preset)} · {Strategy.of_config(load_shipped(key).cfg).title()}"


def replays() -> list[ReplayRun]:
    return [r for r in registry().list() if isinstance(r, ReplayRun)]


def trained(run):
    """The run, unless it is a replay (None): what a student may post to a class board as their own."""
    return None if isinstance(run, ReplayRun) else run


def playing() -> bool:
    """Whether a replay of the session is still playing (the live panel then redraws each second)."""
    return any(not r.trainer.done for r in replays())


def on_add() -> None:
    ss = st.session_state
    with guarded(_("Adding the replay")):
        rec = load_shipped(ss.get(CHOICE_KEY))
        run, dropped = registry().add(rec.cfg, Replay(rec, speed=float(ss.get(SPEED_KEY) or 1.0)), ReplayRun)
        ss["ui_overlay"] = [*prune("ui_overlay"), run.id]
        ss["ui_manage_run"] = run.id
        for notice in registry().notices(run, dropped):
            tell("info", notice)


def on_speed() -> None:
    """The chosen speed applies to every replay still playing, from where it is now."""
    with guarded(_("Changing the replay speed")):
        speed = float(st.session_state.get(SPEED_KEY) or 1.0)
        for r in replays():
            if not r.trainer.done:
                r.trainer.speed = speed


def replay_box() -> None:
    """Choose a recording and a speed, add it as a run; then say where each replay comes from."""
    keys = shipped()
    if not keys:
        return
    ss = st.session_state
    if ss.get(CHOICE_KEY) not in keys:
        ss[CHOICE_KEY] = keys[0]
    ss.setdefault(SPEED_KEY, 10.0)
    with st.expander(_("Replay a recorded run (no training)"), expanded=False):
        with st.container(horizontal=True, vertical_alignment="bottom"):
            # every label worked out now: a format_func reads no state (AppTest calls it outside the
            # script run, where the language is not set)
            titles, speeds = {k: recording_text(k) for k in keys}, {s: speed_text(s) for s in SPEEDS}
            st.selectbox(_("Recording"), keys, format_func=titles.get, key=CHOICE_KEY, width=360)
            st.segmented_control(
                _("Speed"),
                list(SPEEDS),
                format_func=speeds.get,
                key=SPEED_KEY,
                required=True,
                on_change=on_speed,
            )
            st.button(_("Add replay"), key="btn_replay", icon=":material/replay:", on_click=on_add)
        st.caption(
            _(
                "A replay is a recorded run of the book's experiment on the bundled text: it plays back as "
                "if it trained now and overlays with your runs, but nothing trains, so it needs no training "
                "slot. At 1× it goes as fast as it trained when recorded."
            )
        )
        for r in replays():
            st.caption(source_text(r))


def source_text(run: ReplayRun) -> str:
    rec, t = run.trainer.rec, run.trainer
    m = rec.meta
    return _(
        "{name}: recorded with `python -m bptt train --record` on {corpus} (seed {seed}, torch {torch}, "
        "{date}); {steps:,} steps, played at {speed}."
    ).format(name=run.name, corpus=corpus_title(m["corpus_name"]), seed=rec.cfg.seed, torch=m["torch"],
             date=m["date"][:10], steps=len(rec), speed=speed_text(t.speed))  # fmt: skip
