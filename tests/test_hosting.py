"""The settings Streamlit Community Cloud forces over .streamlit/config.toml, on a real server and browser.

Cloud starts the app with `client.showErrorDetails = false` (in Streamlit 1.67: show the stack trace),
`runner.fastReruns = true`, `server.runOnSave = true` and `browser.gatherUsageStats = true`. Here the
same flags are given on the command line, which overrides config.toml as Cloud's settings do, and an
error is made to happen (tests/faults/sitecustomize.py): the visitor sees the app's message, never the
error's text or a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import SETTLED, PageWatch, poll, require_chromium, start_server

pytestmark = pytest.mark.browser

CLOUD_FLAGS = {"client.showErrorDetails": "false", "runner.fastReruns": "true", "server.runOnSave": "true",
               "browser.gatherUsageStats": "true"}  # fmt: skip
FAULTS = Path(__file__).parent / "faults"
FAULT_TEXT = "injected-fault-7f3a"  # tests/faults/sitecustomize.py
SIGNS_OF_A_TRACEBACK = ("Traceback", "RuntimeError", FAULT_TEXT, 'File "', "sitecustomize")


def _page_text(browser, url: str) -> str:
    watch = PageWatch(browser)
    try:
        watch.page.goto(url)
        watch.page.wait_for_selector(SETTLED, timeout=60_000)
        poll(lambda: watch.page.inner_text("[data-testid='stApp']").strip(), 30, what="the page to draw")
        return watch.page.inner_text("[data-testid='stApp']")
    finally:
        watch.close()


@pytest.mark.parametrize("fault", ["page", "frame"])
def test_cloud_settings_show_no_traceback(browser, fault):
    require_chromium()
    path = os.pathsep.join(filter(None, [str(FAULTS), os.environ.get("PYTHONPATH")]))
    server = start_server(f"hosting-{fault}", flags=CLOUD_FLAGS, PYTHONPATH=path, BPTT_FAULT=fault)
    try:
        text = _page_text(browser, server.url)
        log = server.log()
    finally:
        server.stop()
    assert FAULT_TEXT in log, "the fault did not happen: this test would show nothing"
    assert not [s for s in SIGNS_OF_A_TRACEBACK if s in text], text
    if fault == "page":  # the app's own message, in the page's place; the sidebar is still there
        assert "This page ran into an error" in text, text
    else:  # outside any page: Streamlit's generic notice, without details
        assert "error" in text.lower(), text
