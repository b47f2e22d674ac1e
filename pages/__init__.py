"""The dashboard's pages. This file is not a page: Streamlit's page discovery skips `__init__.py`.

Streamlit has no option to switch off its multipage-v1 discovery of a `pages/` folder beside the main
script (`client.showSidebarNavigation` only hides its menu). Until some session of the server has called
`st.navigation`, a request for /train runs pages/train.py on its own, without app.py. The public way out
is the documented one: calling `st.navigation` turns the discovery off for the whole server, and a rerun
then sends the same request through app.py, which routes it to the page its URL names.
"""

import threading

import streamlit as st

_routing = threading.local()  # a script run runs in one thread: app.py marks the runs it routes


def page_list() -> list:
    """The pages as app.py registers them (their titles in the current language)."""
    from bptt.i18n import _

    return [
        st.Page("pages/home.py", title=_("Home"), icon=":material/home:", default=True),
        st.Page("pages/path.py", title=_("Guided path"), icon=":material/route:"),
        st.Page("pages/train.py", title=_("Train"), icon=":material/model_training:"),
        st.Page("pages/theory.py", title=_("Theory"), icon=":material/functions:"),
        st.Page("pages/gradient_lab.py", title=_("Gradient lab"), icon=":material/science:"),
        st.Page("pages/compare.py", title=_("Compare"), icon=":material/compare_arrows:"),
        st.Page("pages/board.py", title=_("Class board"), icon=":material/leaderboard:"),
    ]


def route(pages: list) -> None:
    """app.py: run the page the URL names, marked as routed."""
    from pages.ui.timing import timed

    _routing.active = True
    try:
        page = st.navigation(pages)
        with timed("page", page=page.url_path, view=st.session_state.get("ui_view")):
            page.run()
    finally:
        _routing.active = False


def ensure_router() -> None:
    """First line of every page: a run that app.py did not route (the v1 discovery on a fresh server)
    registers the router's pages with `st.navigation` and reruns, so the request goes through app.py."""
    if not getattr(_routing, "active", False):
        st.navigation(page_list(), position="hidden")
        st.rerun()
