"""A probe app for tests/test_callbacks.py: a Start button whose callback writes session state, works a
while (as building a model does), and writes again; a radio to click while it works.

BPTT_PROBE_GUARD=1 (the default) imports pages/ui/session.py, as every page of the app does, and runs
the callback under its `guarded`; BPTT_PROBE_GUARD=0 never imports it (its patch is process-wide), which
shows the Streamlit behaviour that the module works around.
"""

import contextlib
import os
import time

import streamlit as st

GUARD = os.environ.get("BPTT_PROBE_GUARD", "1") == "1"
if GUARD:
    from pages.ui.session import guarded
else:
    guarded = contextlib.nullcontext

ss = st.session_state
ss.setdefault("clicks", 0)
WORK_SECONDS = 1.0


def work() -> None:
    ss["clicks"] += 1
    time.sleep(WORK_SECONDS)
    ss["phase"] = "running"


def on_start() -> None:
    with guarded("Start"):
        work()


st.button("Start", key="start", on_click=on_start)
st.radio("Choice", ["x1", "x2", "x3"], key="choice", horizontal=True)
st.text(f"clicks={ss['clicks']} phase={ss.get('phase')} choice={ss.get('choice')}")
