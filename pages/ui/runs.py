"""The training page's runs: building one when the controls ask for it (pages/ui/live.py), Reset and
Remove, and the run management widgets: which runs are on the curves, and a run's export."""

from __future__ import annotations

import weakref

import streamlit as st

from bptt.hosting.export import metrics_csv, settings_json
from bptt.i18n import _
from bptt.training import Trainer

from .corpus import current_corpus
from .lab import open_in_lab
from .lang import query_with_language
from .live import Lane
from .session import guarded, prune, registry, run_namer, tell
from .settings import current_config_quiet

# The training page trains one run at a time: its controls are "ui_run_<n>", its phase "phase"; the run
# it trains is also session_state "active" (its id in the registry).
LANE = Lane(name="train", prefix="ui_run_", phase_key="phase", queue_key="queue")


def create_run():
    """A new run from the page's settings (the controls asked for one), or None after saying why. Every
    session-state read comes before the run is built and added: from there on nothing can stop this
    script run halfway (see pages/ui/live.py, LaneState)."""
    with guarded(_("Starting the run")):
        cfg = current_config_quiet()
        corpus, _error = current_corpus(cfg)
        if corpus is None:
            tell("error", _("No training text is loaded yet."))
            return None
        runs = registry()
        trainer = Trainer(cfg, corpus)  # CorpusError('too_short') when one minibatch does not fit
        run, dropped = runs.add(cfg, trainer)
        run.notices = runs.notices(run, dropped)  # their text only: the dropped runs are let go now
        return run
    return None


def take_note_of_new_run() -> None:
    """Once per new run (again if a click cut it short): show it on the curves and in the export box."""
    ss = st.session_state
    if (run := LANE.state().fresh) is None:
        return
    ss["ui_manage_run"] = run.id
    if run.id in registry() and run.id not in prune("ui_overlay"):
        ss["ui_overlay"] = [*ss["ui_overlay"], run.id]
    for notice in run.notices:
        tell("info", notice)
    run.notices = []
    LANE.state().fresh = None


def _stop_lane_run() -> None:
    if (job := LANE.job()) is not None:
        job.stopped = True  # the lane's control moves on to the next run


def on_reset() -> None:
    ss = st.session_state
    with guarded(_("Reset")):
        ss["reset_asked"] = False
        _stop_lane_run()
        registry().clear()
        ss["ui_overlay"] = []


def ask_reset() -> None:
    st.session_state["reset_asked"] = True


def cancel_reset() -> None:
    st.session_state["reset_asked"] = False


def on_remove() -> None:
    ss = st.session_state
    with guarded(_("Removing the run")):
        run_id = ss.get("ui_manage_run")
        registry().remove(run_id)
        if run_id == ss.get("active"):
            _stop_lane_run()
        prune("ui_overlay")


def reset_button() -> None:
    """Reset in two steps: the button asks, "Forget them" forgets. Whether it asked is a value in session
    state, like the run controls (pages/ui/live.py), so a click whose script run is cut short by the next
    one is still answered; confirming with no run left changes nothing."""
    ss = st.session_state
    if not registry():
        ss["reset_asked"] = False
    st.button(
        _("Reset"),
        key="btn_reset",
        on_click=ask_reset,
        disabled=not registry(),
        help=_("Stop and forget every run of this session (the settings stay); asks first"),
    )
    if ss.get("reset_asked"):
        st.markdown(_("Forget all {n} runs of this session?").format(n=len(registry())), width="content")
        st.button(_("Forget them"), key="btn_reset_confirm", type="primary", on_click=on_reset,
                  icon=":material/delete:")  # fmt: skip
        st.button(_("Cancel"), key="btn_reset_cancel", on_click=cancel_reset)


def on_analyse() -> None:
    ss = st.session_state
    with guarded(_("Opening the Gradient lab")):
        run = registry().get(ss.get("active")) or (registry().list()[-1] if registry() else None)
        if run is not None:
            step = run.trainer.pin_snapshot()  # the weights as they are now, kept for the lab
            open_in_lab(run.id, step)
            ss["goto_lab"] = (run.id, step)


def analyse_button() -> None:
    """ "Analyse this run's weights": the Gradient lab, at the active (or latest) run's weights as they are
    now (the trainer keeps a copy of them at this step)."""
    st.button(
        _("Analyse this run's weights"),
        key="btn_analyse",
        icon=":material/science:",
        on_click=on_analyse,
        disabled=not registry(),
        help=_("Opens the Gradient lab at this run's current weights, on a minibatch of its corpus."),
    )
    if (goto := st.session_state.pop("goto_lab", None)) is not None:
        query = query_with_language({"run": str(goto[0]), "step": str(goto[1])})
        st.switch_page("pages/gradient_lab.py", query_params=query)


def overlay_select() -> None:
    prune("ui_overlay")
    st.multiselect(
        _("Runs on the curves"),
        registry().ids(),
        format_func=run_namer(),
        key="ui_overlay",
        width="stretch",
        placeholder=_("the active run"),
    )


def deferred(run, render):
    """A download's data, made when clicked, holding the run by weak reference: Streamlit keeps a page's
    deferred downloads until the session shuts down, which a closed tab's session may never do, long
    after its runs were let go (pages/ui/session.py)."""
    ref = weakref.ref(run)
    return lambda: "" if (r := ref()) is None else render(r)


def export_box() -> None:
    """Download a run's history or settings, or remove it (only once there is a run)."""
    ss = st.session_state
    if not registry():
        return
    with st.expander(_("Export or remove a run")):
        if ss.get("ui_manage_run") not in registry():
            ss["ui_manage_run"] = ss.get("active") if ss.get("active") in registry() else registry().ids()[-1]
        chosen = registry().get(
            st.selectbox(_("Run"), registry().ids(), format_func=run_namer(), key="ui_manage_run")
        )
        with st.container(horizontal=True):
            st.download_button(
                _("Metrics (CSV)"),
                data=deferred(chosen, lambda r: metrics_csv(r.trainer)),
                on_click="ignore",
                file_name=f"bptt-run-{chosen.id}.csv",
                mime="text/csv",
                key="btn_csv",
            )
            st.download_button(
                _("Settings (JSON)"),
                data=deferred(chosen, settings_json),
                on_click="ignore",
                file_name=f"bptt-run-{chosen.id}.json",
                mime="application/json",
                key="btn_json",
            )
            st.button(_("Remove"), key="btn_remove", on_click=on_remove)
