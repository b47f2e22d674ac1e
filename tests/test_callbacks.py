"""Why the run controls are a value the page reconciles (pages/ui/live.py), shown in a real browser
against a probe app (tests/apps/callback_race.py) under Streamlit's fast reruns: a second click that
lands while the first one's work goes on."""

from __future__ import annotations

import pytest
from conftest import ROOT, SETTLED, PageWatch, app_tracebacks, poll, start_server

pytestmark = pytest.mark.browser


PROBE = ROOT / "tests" / "apps" / "callback_race.py"


@pytest.fixture
def probe(request):
    """The probe app on its own server, in mode "state" (the dashboard's design) or "event"."""
    server = start_server(f"callback-race-{request.param}", PROBE, BPTT_PROBE_MODE=request.param)
    yield server
    server.stop()


def click_start_then_choice(browser, server) -> str:
    """Click Start, and at once (while its work goes on) the radio's x2; the app's state line once both
    clicks are answered."""
    pw = PageWatch(browser)
    page = pw.page
    page.goto(server.url)
    page.wait_for_selector(SETTLED, timeout=60_000)
    page.get_by_text("clicks=").wait_for(timeout=30_000)
    page.locator(".st-key-start button").first.click()
    page.locator(".st-key-choice [data-testid='stRadioOption']").filter(has_text="x2").click()
    poll(lambda: "choice=x2" in page.get_by_text("clicks=").inner_text(), 30, what="the second click's run")
    page.wait_for_timeout(2500)  # the first click's work (1 s) has ended by now
    page.wait_for_selector(SETTLED, timeout=30_000)
    text = page.get_by_text("clicks=").inner_text()
    assert not pw.errors, pw.errors
    pw.close()
    return text


@pytest.mark.parametrize("probe", ["state"], indirect=True)
def test_a_control_that_is_a_value_keeps_its_whole_effect(probe, browser):
    for _ in range(3):
        text = click_start_then_choice(browser, probe)
        assert text == "clicks=1 phase=running choice=x2", text
    assert app_tracebacks(probe.log()) == 0, probe.log()[-3000:]


@pytest.mark.parametrize("probe", ["event"], indirect=True)
def test_the_probe_shows_why_the_controls_are_no_events(probe, browser):
    """A one-shot button whose callback works between two session-state writes: Streamlit (1.67, fast
    reruns) stops the callback at its next session-state access after the second click (its first write
    kept, its second lost). If this starts failing, Streamlit no longer stops a callback halfway."""
    lost = [click_start_then_choice(browser, probe) for _ in range(3)]
    assert any(t == "clicks=1 phase=None choice=x2" for t in lost), lost
