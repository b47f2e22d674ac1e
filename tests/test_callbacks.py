"""A callback runs to its end even when the visitor clicks again while it works (Streamlit 1.67, fast
reruns): pages/ui/session.py `guarded`, in a real browser against a probe app (tests/apps/)."""

from __future__ import annotations

import pytest
from conftest import ROOT, SETTLED, PageWatch, app_tracebacks, poll, start_server

pytestmark = pytest.mark.browser


PROBE = ROOT / "tests" / "apps" / "callback_race.py"


@pytest.fixture
def probe(request):
    """The probe app on its own server: with the app's guard (param 1) or bare (param 0)."""
    server = start_server(f"callback-race-{request.param}", PROBE, BPTT_PROBE_GUARD=str(request.param))
    yield server
    server.stop()


def click_start_then_choice(browser, server) -> str:
    """Click Start, and at once (while its callback works) the radio's x2; the app's state line once
    both clicks are answered."""
    pw = PageWatch(browser)
    page = pw.page
    page.goto(server.url)
    page.wait_for_selector(SETTLED, timeout=60_000)
    page.get_by_text("clicks=").wait_for(timeout=30_000)
    page.locator(".st-key-start button").click()
    page.locator(".st-key-choice [data-testid='stRadioOption']").filter(has_text="x2").click()
    text = poll(lambda: (t := page.get_by_text("clicks=").inner_text()) and "choice=x2" in t and t, 30,
                what="the second click's run")  # fmt: skip
    page.wait_for_timeout(2000)  # the first click's callback (1 s of work) has ended by now
    page.wait_for_selector(SETTLED, timeout=30_000)
    text = page.get_by_text("clicks=").inner_text()
    assert not pw.errors, pw.errors
    pw.close()
    return text


@pytest.mark.parametrize("probe", [1], indirect=True)
def test_a_guarded_callback_keeps_its_whole_effect(probe, browser):
    for _ in range(3):
        text = click_start_then_choice(browser, probe)
        assert text == "clicks=1 phase=running choice=x2", text
    assert app_tracebacks(probe.log()) == 0, probe.log()[-3000:]


@pytest.mark.parametrize("probe", [0], indirect=True)
def test_the_probe_reproduces_the_race_it_guards_against(probe, browser):
    """Without the guard Streamlit abandons the callback at its next session-state access after the second
    click (its first write kept, its second lost). If this starts failing, Streamlit no longer stops a
    callback halfway, and the patch in pages/ui/session.py may be retired."""
    lost = [click_start_then_choice(browser, probe) for _ in range(3)]
    assert any(t == "clicks=1 phase=None choice=x2" for t in lost), lost
