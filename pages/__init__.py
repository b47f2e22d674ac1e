"""The dashboard's pages. This file is not a page: Streamlit's page discovery skips `__init__.py`."""

import streamlit as st


def ensure_router() -> None:
    """Make sure this page runs under app.py's `st.navigation`, not Streamlit's old pages/ discovery.

    Until some session has run app.py, a server whose main script has a `pages/` folder beside it runs
    that folder's scripts on their own (multipage v1): a first visit straight to /train on a fresh server
    (a shared link to a sleeping Community Cloud app) would get no router, a wrong sidebar and settings
    that do not survive a page change. Turning the v1 flag off and rerunning sends this very request
    through app.py, which routes it to the page the URL names, query string included.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False  # what st.navigation itself does on its first call
        st.rerun()
