"""BPTT Lab: the frame and the router. The pages live in pages/ and are registered here explicitly."""

import logging
import os

import streamlit as st

from bptt.i18n import _
from pages import page_list, route
from pages.ui.lang import language_switch
from pages.ui.session import heartbeat
from pages.ui.warm import warm_up

# Visitors never see a traceback, whatever the host's config: Streamlit Community Cloud forces
# client.showErrorDetails = false, which Streamlit 1.67 reads as "show the stack trace". A script may set
# this option (st.set_option allows the client.* options), and it is read when an error is shown.
st.set_option("client.showErrorDetails", "none")

st.set_page_config(page_title="BPTT Lab", page_icon=":material/replay:", layout="wide")

# The training page's settings ("cfg_*"), view options ("ui_*") and the Gradient lab's choices ("lab_*")
# are widget state. Streamlit forgets a widget's value once a run does not draw it (another page, a
# hidden π slider); writing each value back at the top of every run keeps it, so settings survive a
# visit to another page.
for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(("cfg_", "ui_", "lab_"))]:
    st.session_state[key] = st.session_state[key]

if os.environ.get("BPTT_WARM_UP", "1") != "0":  # 0: the cold baseline of benchmarks/first_visit.py
    warm_up()  # once per process: PyTorch, pandas and Plotly load while the visitor reads Home

with st.sidebar:
    language_switch()  # first: every message below is in the chosen language
    heartbeat()  # while the session keeps runs (pages/ui/session.py)

try:
    route(page_list())  # pages/__init__.py: the router, and the page runs it marks as routed
except Exception:  # Streamlit's own stop and rerun signals are BaseExceptions: they pass through
    logging.getLogger("bptt_lab").exception("a page failed")
    st.error(_("This page ran into an error and stopped. Your runs and settings are kept; the details are in "
               "the server log."))  # fmt: skip
