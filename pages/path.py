"""A guided path through d2l §8.7 in the book's order: the recursion, full computation, regular and
randomized truncation, the comparison (Fig. 8.7.1), the powers of W_hh, and the section's two exercises.

A flat script over pages/ui/path.py (the steps, the switch, the buttons to the other pages),
pages/ui/path_steps.py and pages/ui/path_powers.py (one function a step). Everything is computed in
the page run: small numpy work on a scalar RNN and a 16-unit W_hh, no training.
"""

import logging

import streamlit as st

from bptt.i18n import _
from pages import ensure_router
from pages.ui import path

log = logging.getLogger("bptt_lab.path")

ensure_router()
path.init()

st.title(_("A guided path through §8.7"))
st.caption(
    _(
        "Backpropagation through time in the book's order (d2l §8.7; English edition §9.7), one step at a "
        "time: the equation as the Chinese edition numbers it, a figure you can move, what to look for, "
        "and a button to the page that shows it at full scale."
    )
)
step = path.step_select()
st.header(_(path.STEPS[step]))
try:
    path.draw(step)
except Exception:
    log.exception("path step %s failed", step)
    st.error(_("This step could not be drawn for these values. Details are in the server log."))
path.prev_next(step)
path.follow_button()
