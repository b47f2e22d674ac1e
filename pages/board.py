"""The class board: a lecturer creates a board and shares its short code, students post finished runs to
it from Train, and this page overlays every post: final perplexity against k, π or num_steps, one colour
per truncation strategy (d2l §8.7.1), and the perplexity curves.

A flat script over pages/ui/board.py; the storage is bptt/board (SQLite, or PostgreSQL by URL).
"""

import streamlit as st

from bptt.board import BoardError
from bptt.i18n import _
from pages import ensure_router
from pages.ui import board as ui

ensure_router()
st.title(_("Class board"))
st.markdown(
    _(
        "A lecturer creates a board and gives the class its code. Each student trains on **Train** and, "
        "once a run has finished, posts it to the board (under the curves: *Post this run to a class "
        "board*). A post holds the run's settings, its final perplexity and its perplexity curve, nothing "
        "else. Boards expire {days} days after they are created."
    ).format(days=f"{ui.LIMITS.ttl_days:g}")
)
ui.show_note()
try:
    db = ui.store()
except BoardError as e:
    st.error(e.message)
    db = None
if db is not None:
    ui.open_or_create()
    ui.show_board(db)
