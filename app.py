"""BPTT Lab: the frame and the router. The pages live in pages/ and are registered here explicitly."""

import os

import streamlit as st

from pages import page_list, route
from pages.ui.lang import language_switch
from pages.ui.warm import warm_up

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

route(page_list())  # pages/__init__.py: the router, and the page runs it marks as routed
