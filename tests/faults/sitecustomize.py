"""Loaded only by the `streamlit run` process of tests/test_hosting.py (PYTHONPATH=tests/faults): it makes
the app fail on purpose, where BPTT_FAULT says, with a message no visitor may see (FAULT_TEXT).

- "page": the Home page's title raises (an error inside a page);
- "frame": st.set_page_config raises (an error in app.py itself, outside any page).
"""

import os

FAULT_TEXT = "injected-fault-7f3a"

if os.environ.get("BPTT_FAULT") in ("page", "frame"):
    import streamlit as st

    _title, _page_config = st.title, st.set_page_config

    def title(body, *args, **kwargs):
        if body == "BPTT Lab" and os.environ["BPTT_FAULT"] == "page":
            raise RuntimeError(FAULT_TEXT)
        return _title(body, *args, **kwargs)

    def set_page_config(*args, **kwargs):
        if os.environ["BPTT_FAULT"] == "frame":
            raise RuntimeError(FAULT_TEXT)
        return _page_config(*args, **kwargs)

    st.title, st.set_page_config = title, set_page_config
