"""Train the book's RNN with full, regular or randomized truncation, and watch it learn (d2l §8.7).

A flat script over pages/ui: settings from the URL and the widgets, the corpus, the controls and their
reconciliation with the training workers, the live panel (pages/ui/live.py explains how a run trains
off the page and why the panel's layout is fixed), the exports.
"""

import streamlit as st

from bptt.config import config_diff
from bptt.i18n import _
from bptt.truncation import Strategy
from pages import ensure_router
from pages.ui import board, live, panel, replays, settings, three
from pages.ui import corpus as text
from pages.ui.runs import (
    LANE,
    analyse_button,
    create_run,
    export_box,
    overlay_select,
    reset_button,
    take_note_of_new_run,
)
from pages.ui.session import on_phone, registry, show_messages

ensure_router()
ss = st.session_state
settings.init_from_url(
    {
        "ui_xaxis": "tokens",
        "ui_view": "curves",
        "ui_overlay": [],
        "ui_prefix": "time traveller",
        "ui_temperature": 0.0,
        "phase": "idle",
    }
)
cfg = settings.current_config()
live.reconcile(LANE, create_run)  # the controls' value, made true: before anything reads the phase
take_note_of_new_run()
job = LANE.job()  # the run the controls speak for, while the registry keeps it
ss["active"] = job.id if job is not None and job.id in registry() else None

with st.sidebar:
    settings.preset_select(cfg)
    st.subheader(_("Text"))
    settings.choice("corpus")
    corpus, corpus_error = text.corpus_box(cfg)
    settings.text_settings(cfg)
    text.corpus_facts(corpus)
    settings.model_and_training(cfg)

# Every section above the live panel is a container that always exists, so the panel's place in the
# page never moves (pages/ui/live.py).
st.title(_("Train an RNN with BPTT"))
with st.container():
    show_messages()
    settings.url_notes(show=not registry())
    text.corpus_notices(corpus, corpus_error)
# Start comes right under the title and the chart options under the charts, so that on a phone (where
# the sidebar is folded away) Start and the first chart share the first screen.
phone = on_phone()
with st.container(horizontal=True, vertical_alignment="center"):
    live.controls(LANE, can_start=corpus is not None)
    reset_button()
    analyse_button()
    if not phone:
        three.three_button(can_start=corpus is not None)

# On a phone the truncation box is folded (its title names the strategy), so the charts come into view.
truncation_box = (
    st.expander(_("Truncation: {strategy}").format(strategy=Strategy.of_config(cfg).title()))
    if phone
    else st.container(border=True)
)
with truncation_box:
    left, right = st.columns([2, 3], gap="medium")
    with left:
        settings.truncation_settings(cfg)
    with right:
        settings.truncation_explained(cfg)

with st.container():
    active = registry().get(ss.get("active"))
    if active is not None and LANE.phase() != "idle" and (changes := config_diff(active.cfg, cfg)):
        # A run keeps the settings it was built with; a new one starts from the control's Start, which
        # a running or paused run offers again only after Stop.
        st.info(
            _(
                "Changed since this run started: {changes}. They apply to a new run: press Stop, then Start."
            ).format(changes=", ".join(changes))
        )

if not phone:
    panel.view_select()
live.panel(LANE, create_run, panel.draw, replays.playing)
if phone:  # under the charts, so that the first one is in the first screen
    panel.view_select()
    three.three_button(can_start=corpus is not None)
with st.container(horizontal=True):
    overlay_select()
    st.radio(
        _("x axis"),
        ["tokens", "wall_time"],
        format_func={"tokens": _("tokens"), "wall_time": _("wall time")}.get,
        key="ui_xaxis",
        horizontal=True,
        width=180,
    )
    st.text_input(_("Prefix"), key="ui_prefix", max_chars=panel.MAX_PREFIX, width=220)
    st.slider(
        _("Temperature"),
        0.0,
        2.0,
        step=0.1,
        key="ui_temperature",
        width=170,
        help=_("0 is greedy, as the book; higher samples more freely"),
    )
replays.replay_box()

export_box()
board.post_box(replays.trained(registry().get(ss.get("ui_manage_run"))))  # a replay is nobody's run
settings.write_url(cfg)
