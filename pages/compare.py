"""Compare truncation strategies over seeds, with error bars and a verdict (d2l §8.7.1.4, Fig. 8.7.1).

A flat script over pages/ui: the shipped results of the default comparisons open at once; a live rerun
trains in the same training workers as the Train page, with the same controls (pages/ui/live.py); the
chart, table and verdict come from the shipped file or the live comparison.
"""

from functools import partial

import streamlit as st

from bptt.i18n import _
from pages import ensure_router
from pages.ui import compare as cmp
from pages.ui import live, three
from pages.ui.session import show_messages

ensure_router()
ss = st.session_state


def show_key() -> str:
    """The Show choice's key: one per live comparison, so a new one starts out shown."""
    latest = cmp.LANE.latest()
    return f"ui_cmp_show_{latest[0] if latest else 0}"


def follow_show() -> str:
    """The Show radio's key for this run, its value set: a new comparison starts out shown, unless the
    visitor changed a Show radio since replaced (the click raced Start): that choice is the latest."""
    ss, key = st.session_state, show_key()
    drawn = ss.setdefault("cmp_show_drawn", {})  # a plain dict: key -> the value the page last drew
    for old, value in list(drawn.items()):
        if old != key and ss.get(old, value) != value:
            ss[key] = drawn[old] = ss[old]
    ss.setdefault(key, "live" if cmp.live() is not None else "shipped")
    return key


def shown_as(key: str, value: str) -> None:
    st.session_state["cmp_show_drawn"][key] = value


for key, value in {"ui_cmp_task": "time_machine", "ui_cmp_x": "tokens",
                   "ui_cmp_band": "minmax", "ui_cmp_seeds": 2, "ui_cmp_budget": "epochs",
                   "ui_cmp_seconds": 10}.items():  # fmt: skip
    ss.setdefault(key, value)

three.follow_wish()  # Train's "three strategies" click, made true (pages/ui/three.py)
with st.sidebar:
    st.subheader(_("Live rerun"))
    task = ss["ui_cmp_task"]
    if not three.settings(task):  # Train's settings while they are in use, else the page's own
        cmp.settings(task)
create = partial(three.create, task)
live.reconcile(cmp.LANE, create)  # the controls' value, made true
three.follow_wish()

st.title(_("Compare truncation strategies"))
with st.container():
    show_messages()
    st.markdown(
        _(
            "The book compares full, regular and randomized truncation with one run each (d2l §8.7.1.4) and "
            "finds randomized truncation *not much better* than regular. Here every strategy trains over "
            "several seeds: for a given seed the same initial weights and the same minibatch order. The "
            "verdict asks whether a difference exceeds the seed-to-seed spread."
        )
    )
    st.radio(_("Task"), list(cmp.TASKS), format_func=lambda t: _(cmp.TASKS[t]), key="ui_cmp_task",
             horizontal=True)  # fmt: skip
    if task == "synthetic":
        st.caption(
            _(
                "Delayed recall: the target at a recall position is the XOR of two markers in noise; the "
                "loss that scores it comes d − 1 = 7 steps after the second marker and d = 8 after the "
                "first. Regular truncation with k ≤ d − 1 never keeps a gradient path to either marker; "
                "with k = d the second marker and the loss share a chunk for about 1 in k recalls and the "
                "first never does, so what it learns of the first it reads from the state carried into the "
                "chunk. Full and randomized truncation carry gradient along both lags. The metric is the "
                "perplexity at the recall positions on held-out data (2 = chance, 1 = perfect)."
            )
        )

with st.container(horizontal=True, vertical_alignment="center"):
    live.controls(cmp.LANE, can_start=True)

with st.container(horizontal=True):
    shown = {"shipped": _("shipped results"), "live": _("your live comparison")}
    key = follow_show()
    ss["cmp_show"] = st.radio(_("Show"), list(shown), key=key, horizontal=True, width=400,
                              format_func=shown.get)  # fmt: skip
    shown_as(key, ss["cmp_show"])
    st.radio(_("x axis"), ["tokens", "wall_time"], key="ui_cmp_x", horizontal=True, width=200,
             format_func={"tokens": _("tokens"), "wall_time": _("wall time")}.get)  # fmt: skip
    st.radio(_("Band"), ["minmax", "sd"], key="ui_cmp_band", horizontal=True, width=200,
             format_func={"minmax": _("min–max"), "sd": _("±1 sd")}.get)  # fmt: skip

live.panel(cmp.LANE, create, lambda: cmp.draw(task))

cmp.export(task)
