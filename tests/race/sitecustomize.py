"""Loaded only by the `streamlit run` process of tests/test_load.py::test_fast_clicks_widened_races
(PYTHONPATH=tests/race): it widens Streamlit's race windows on purpose, as a loaded server would.

Every script-runner event (a delta, a run's start or end) waits a few random milliseconds on the
server's event loop before it is handled, so that the events of one run are still pending when a
click's rerun or a timer's fragment rerun arrives, and the browser queue is flushed mid-run.
"""

import os
import random
import time

if os.environ.get("BPTT_WIDEN_RACES"):
    from streamlit.runtime import app_session

    _rng = random.Random(int(os.environ["BPTT_WIDEN_RACES"]))
    _handle = app_session.AppSession._handle_scriptrunner_event_on_event_loop

    def _slow_handle(self, *args, **kwargs):
        time.sleep(_rng.uniform(0.0, float(os.environ.get("BPTT_WIDEN_MS", "4")) / 1000))
        return _handle(self, *args, **kwargs)

    app_session.AppSession._handle_scriptrunner_event_on_event_loop = _slow_handle
