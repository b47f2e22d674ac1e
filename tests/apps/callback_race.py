"""A probe app for tests/test_callbacks.py: why the run controls are a value the page reconciles.

BPTT_PROBE_MODE=event: a Start button whose callback writes session state, works a while (as building a
model does) and writes again, the way the dashboard's controls worked before. BPTT_PROBE_MODE=state
(the default): a segmented control whose value says "running", and a page body that builds what the
value asks for when it is not built yet, under the session's lock (two runs of one session can overlap),
recording it with plain writes (pages/ui/live.py). In both, a
radio to click while the work goes on.
"""

import os
import threading
import time

import streamlit as st

STATE = os.environ.get("BPTT_PROBE_MODE", "state") == "state"
WORK_SECONDS = 1.0
ss = st.session_state

if STATE:
    record = ss.setdefault("record", {})  # a plain object: writes to it are no yield points
    lock = ss.setdefault("lock", threading.RLock())  # a stopped run may still be working: wait for it
    want = st.segmented_control("Start", ["running"], key="start", required=True)
    with lock:
        if want == "running" and "built" not in record:
            time.sleep(WORK_SECONDS)
            record["built"], record["clicks"] = True, record.get("clicks", 0) + 1
    clicks, phase = record.get("clicks", 0), "running" if record.get("built") else None
else:
    ss.setdefault("clicks", 0)

    def on_start() -> None:
        ss["clicks"] += 1
        time.sleep(WORK_SECONDS)
        ss["phase"] = "running"

    st.button("Start", key="start", on_click=on_start)
    clicks, phase = ss["clicks"], ss.get("phase")

st.radio("Choice", ["x1", "x2", "x3"], key="choice", horizontal=True)
st.text(f"clicks={clicks} phase={phase} choice={ss.get('choice')}")
