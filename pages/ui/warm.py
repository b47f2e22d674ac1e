"""Warm the server process while the first visitor reads Home: import what the training page needs
(PyTorch, pandas, Plotly and the pages' own modules) and build one figure, in a background thread.

On a fresh server these first imports took most of the ~3 s between a click on Train and a clickable
Start (benchmarks/first_visit.py). Python's import lock makes a page that asks for a module while the
thread imports it wait for that import, never import it twice.
"""

from __future__ import annotations

import importlib
import logging
import threading

import streamlit as st

log = logging.getLogger("bptt_lab.warm")
MODULES = ("pages.ui.panel", "pages.ui.runs", "pages.ui.live", "pages.ui.settings", "pages.ui.corpus")


def _warm() -> None:
    try:
        for name in MODULES:
            importlib.import_module(name)
        import plotly.io as pio

        from bptt.charts import train as charts

        pio.to_json(charts.metric_chart({}, "loss"), validate=False)  # Plotly loads its validators lazily
    except Exception:  # a warm-up that fails costs the first visit its speed, nothing else
        log.exception("warming up failed")


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Once per process: start the warm-up thread (daemon: it never keeps the server alive)."""
    thread = threading.Thread(target=_warm, name="bptt-warm-up", daemon=True)
    thread.start()
    return thread
