"""The training page in a real browser (headless Chromium) against `streamlit run app.py`.

What AppTest cannot show: the `run_every` ticks that come from the browser, clicks that land while a
tick trains, the front end drawing the charts, a reload and a second tab. Each test collects the page's
uncaught exceptions and console errors and checks the server log for tracebacks. Screenshots go to
artifacts/ (train_running.png, train_gradients.png, train_dh.png, overlay.png, deep_link.png,
compare.png, compare_synthetic.png, compare_live.png, train-zh.png: the README's
docs/screenshots/train-zh.png is a copy of one).

The machine may be small and shared: every wait polls for a condition with a generous timeout.
"""

from __future__ import annotations

import os
import re

import pytest
from conftest import (
    ARTIFACTS,
    MAIN,
    PLOT_JS,
    SETTLED,
    PageWatch,
    app_tracebacks,
    button,
    chart_drawn,
    chart_points,
    chart_traces,
    chart_x_end,
    checked_radio,
    control,
    metric,
    nudge_slider,
    open_view,
    page_blank,
    page_exceptions,
    pick_radio,
    poll,
    set_slider,
    slider_value,
    start_server,
    step_count,
    wait_chosen,
    wait_settled,
    wait_steps_above,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# Trains for minutes (17,000 steps at H=256), so it never ends during a test.
LONG = "/train?corpus=bundled&max_tokens=20000&num_hiddens=256&epochs=1000"
SMALL = "/train?corpus=bundled&max_tokens=5000&num_hiddens=128&epochs=2000&truncation=full"
TIMEOUT_MS = 30_000


def open_page(browser, server, path: str, height: int = 1000) -> PageWatch:
    pw = PageWatch(browser, height=height)
    pw.page.set_default_timeout(TIMEOUT_MS)
    pw.page.goto(server.url + path)
    wait_settled(pw.page)
    return pw


def assert_clean(pw: PageWatch, server) -> None:
    assert not pw.errors, pw.errors
    assert not page_exceptions(pw.page), page_exceptions(pw.page)
    log = server.log()
    assert app_tracebacks(log) == 0, log[-3000:]


def settled_step(page) -> int:
    """The step once the panel has redrawn after the click's run (it redraws once a second)."""
    page.wait_for_timeout(1500)
    return step_count(page)


def heatmap_rows(page, key: str) -> int:
    js = f"k => (({PLOT_JS})(k)?._fullData || []).find(d => d.type === 'heatmap')?.z?.length || 0"
    return page.evaluate(js, key)


def open_tab(page, name: str, chart_key: str) -> None:
    open_view(page, name)
    poll(lambda: chart_drawn(page, chart_key) > 0, 30, what=f"the {chart_key} chart")


def train_briefly(page, min_steps: int = 150) -> int:
    """Start a run, let it make `min_steps` steps, stop it; the steps it made."""
    wait_chosen(page, None)  # generous: a shared machine
    control(page, "Start").click()
    wait_chosen(page, "Running")
    steps = wait_steps_above(page, min_steps, timeout=60)
    control(page, "Stop").click()
    wait_chosen(page, None)
    return steps


def test_live_training(app_server, browser):
    """Randomized truncation picked in the UI; Start, Pause, Resume, a setting changed mid-run, the
    Gradients and dL/dh_t tabs, Stop: the step counter and the charts advance only while training."""
    pw = open_page(browser, app_server, LONG)
    page = pw.page

    pick_radio(page, "cfg_truncation", "randomized")
    poll(lambda: chart_points(page, "chart_schedule") > 0, 30, what="the schedule preview")

    control(page, "Start").click()
    wait_chosen(page, "Running")
    first = wait_steps_above(page, 0, timeout=60)
    poll(lambda: chart_points(page, "chart_loss") > 0, 30, what="the loss chart")
    x_end = chart_x_end(page, "chart_loss")
    second = wait_steps_above(page, first, timeout=30)
    poll(lambda: chart_x_end(page, "chart_loss") > x_end, 30, what="the loss chart to grow")
    assert second > first
    poll(lambda: chart_points(page, "chart_ppl") > 0, 30, what="the perplexity chart")
    page.set_viewport_size({"width": 1400, "height": 2000})
    page.screenshot(path=str(ARTIFACTS / "train_running.png"))

    # Pause: the step stays put; Resume: it moves again.
    control(page, "Pause").click()
    wait_chosen(page, "Pause")
    expect(control(page, "Resume")).to_be_visible()
    paused = settled_step(page)
    page.wait_for_timeout(2000)
    assert step_count(page) == paused, "the step moved while paused"
    control(page, "Resume").click()
    wait_chosen(page, "Running")
    resumed = wait_steps_above(page, paused, timeout=30)

    # A setting changed mid-run applies to the next run; this one keeps training.
    before = slider_value(page, "cfg_pi")
    nudge_slider(page, "cfg_pi", "ArrowLeft")
    poll(lambda: slider_value(page, "cfg_pi") not in (None, before), 20, what="the π slider to move")
    note = page.locator(f"{MAIN} [data-testid='stAlert']").filter(
        has_text="They apply to a new run: press Stop, then Start"
    )
    expect(note).to_be_visible()
    expect(note).to_contain_text("pi:")
    wait_steps_above(page, resumed, timeout=30)

    open_tab(page, "Gradients", "chart_grad")
    page.screenshot(path=str(ARTIFACTS / "train_gradients.png"))
    open_tab(page, "∂L/∂h_t", "chart_spectral")
    poll(lambda: heatmap_rows(page, "chart_dh") > 0, 30, what="the ∂L/∂h_t heatmap")
    page.screenshot(path=str(ARTIFACTS / "train_dh.png"))

    control(page, "Stop").click()
    wait_chosen(page, None)
    stopped = settled_step(page)
    page.wait_for_timeout(2000)
    assert step_count(page) == stopped, "the step moved after Stop"
    assert_clean(pw, app_server)
    pw.close()


def test_three_run_overlay(app_server, browser):
    """Full, regular (k=5) and randomized, each trained briefly: all three on the loss curves."""
    pw = open_page(browser, app_server, SMALL, height=1600)
    page = pw.page
    train_briefly(page)
    pick_radio(page, "cfg_truncation", "regular")
    set_slider(page, "cfg_k", 5)
    # The slider shows 5 before the server has it: the page writes its settings to the URL on each run,
    # so k=5 there means the next Start trains with it.
    poll(lambda: re.search(r"[?&]k=5(&|$)", page.evaluate("location.href")), 30, what="k=5 at the server")
    train_briefly(page)
    pick_radio(page, "cfg_truncation", "randomized")
    train_briefly(page)

    chips = page.locator(f"{MAIN} .st-key-ui_overlay .react-aria-ComboBox [data-tag]")
    try:  # a run is ticked when it starts
        poll(lambda: chips.count() == 3, 10, what="three runs ticked")
    except AssertionError:  # tick any the page left out
        for name in ("#1", "#2", "#3"):
            if chips.filter(has_text=name).count() == 0:
                page.locator(f"{MAIN} .st-key-ui_overlay input").click()
                page.get_by_role("option").filter(has_text=name).click()
                page.keyboard.press("Escape")
    expect(chips).to_have_count(3)
    names = poll(lambda: len(t := chart_traces(page, "chart_loss")) >= 3 and t, 30, what="three curves")
    joined = " ".join(names)
    assert "full" in joined and "k=5" in joined and "randomized" in joined, names
    page.locator(f"{MAIN} .st-key-chart_loss").first.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "overlay.png"))
    assert_clean(pw, app_server)
    pw.close()


def test_reload_and_second_tab(app_server, browser):
    """A reload during training starts a fresh session that works; a second tab trains beside it."""
    pw = open_page(browser, app_server, LONG)
    page = pw.page
    control(page, "Start").click()
    wait_steps_above(page, 0, timeout=60)

    page.reload()
    wait_settled(page)
    wait_chosen(page, None)
    control(page, "Start").click()
    first = wait_steps_above(page, 0, timeout=60)

    other = pw.context.new_page()
    pw.watch(other)
    other.set_default_timeout(TIMEOUT_MS)
    other.goto(app_server.url + LONG)
    wait_settled(other)
    control(other, "Start").click()
    wait_steps_above(other, 0, timeout=60)
    wait_steps_above(page, first, timeout=60)  # the first tab still trains beside the second

    for p in (page, other):
        control(p, "Stop").click()
        wait_chosen(p, None)
        assert not page_exceptions(p), page_exceptions(p)
    assert_clean(pw, app_server)
    pw.close()


def test_cold_deep_link(browser):
    """A link straight to /train on a fresh server (no session ran app.py yet) gets the router's
    navigation and the settings from the link."""
    server = start_server("coldlink")
    try:
        pw = open_page(browser, server, "/train?num_steps=20&pi=0.8&truncation=randomized&corpus=bundled")
        page = pw.page
        nav = page.locator("[data-testid='stSidebarNav']")
        for name in ("Home", "Train", "Theory"):
            expect(nav.get_by_role("link", name=name)).to_be_visible()
        poll(lambda: slider_value(page, "cfg_num_steps") and slider_value(page, "cfg_pi"), 30, what="sliders")
        assert float(slider_value(page, "cfg_num_steps")) == 20
        assert float(slider_value(page, "cfg_pi")) == pytest.approx(0.8)
        assert checked_radio(page, "cfg_truncation") == "randomized"
        assert "bundled" in page.locator(".st-key-cfg_corpus input").input_value()
        poll(lambda: chart_points(page, "chart_schedule") > 0, 30, what="the schedule preview")
        page.screenshot(path=str(ARTIFACTS / "deep_link.png"))
        assert_clean(pw, server)
        pw.close()
    finally:
        server.stop()


def progress_value(page) -> int | None:
    """The Compare page's progress bar (0-100), None while it is not drawn."""
    js = """() => { const b = document.querySelector("[data-testid='stMain'] [role='progressbar']");
                    return b ? Number(b.getAttribute('aria-valuenow')) : null; }"""
    return page.evaluate(js)


def test_compare_page(app_server, browser):
    """Compare opens with the shipped chart; a tiny live comparison (synthetic task, one seed, equal time)
    starts, a click on the band while it trains leaves it shown, its progress moves, Pause holds it, Stop
    ends it, and nothing goes wrong in the page."""
    pw = PageWatch(browser, height=1600)
    page = pw.page
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_server.url + "/compare")
    page.wait_for_selector(SETTLED, timeout=60_000)
    control(page, "Start", "cmp").wait_for()
    poll(lambda: len(chart_traces(page, "cmp_chart")) == 12, 30, what="the shipped chart")
    assert "full within each window (n=3)" in chart_traces(page, "cmp_chart")
    expect(page.locator(MAIN).get_by_text("Mean of 3 seeds per strategy").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)

    pick_radio(page, "ui_cmp_task", "Synthetic long dependency (delayed recall, d = 8)")
    poll(lambda: "regular (k=8) (n=5)" in chart_traces(page, "cmp_chart"), 30, what="the synthetic chart")
    page.wait_for_selector(SETTLED)
    page.screenshot(path=str(ARTIFACTS / "compare_synthetic.png"), full_page=True)
    set_slider(page, "ui_cmp_seeds", 1)
    pick_radio(page, "ui_cmp_budget", "equal time")
    set_slider(page, "ui_cmp_seconds", 20)  # 2 runs of 20 s: it never ends during the test
    page.wait_for_selector(SETTLED)
    control(page, "Start", "cmp").click()
    wait_chosen(page, "Running", "cmp", timeout=90)  # a busy shared machine
    # A click during the comparison changes the view and leaves the live comparison shown and training.
    page.locator(".st-key-ui_cmp_band [data-testid='stRadioOption']").filter(has_text="sd").click()
    poll(lambda: checked_radio(page, "ui_cmp_band") == "±1 sd", 30, what="the band click")
    first = poll(lambda: (progress_value(page) or 0) > 0 and progress_value(page), 60, what="progress")
    poll(lambda: (progress_value(page) or 0) > first, 30, what="the progress to move")
    poll(lambda: len(chart_traces(page, "cmp_chart")) >= 3, 30, what="the live curve")

    page.screenshot(path=str(ARTIFACTS / "compare_live.png"), full_page=True)
    control(page, "Pause", "cmp").click()
    wait_chosen(page, "Pause", "cmp")
    page.wait_for_timeout(2000)  # the panel redraws after the click's run
    held = progress_value(page)
    page.wait_for_timeout(2000)
    assert progress_value(page) == held, "the progress moved while paused"

    control(page, "Stop", "cmp").click()
    wait_chosen(page, None, "cmp")
    assert not page_blank(page)
    assert_clean(pw, app_server)
    pw.close()


LAB_RUN = "/train?corpus=bundled&max_tokens=5000&num_hiddens=128&epochs=2000&truncation=full"
SCREENSHOTS = ARTIFACTS.parent / "docs" / "screenshots"


def lab_settled(page) -> None:
    page.wait_for_selector(SETTLED, timeout=60_000)
    page.wait_for_function("!document.querySelector(\"[data-testid='stSkeleton']\")", timeout=60_000)


def test_gradient_lab_from_a_run_and_back(app_server, browser):
    """Train briefly, "Analyse this run's weights": the lab opens at that run's latest weights; its three
    views draw (screenshots of each into docs/screenshots/); "Train with k = …" opens Train with regular
    truncation at that k."""
    pw = open_page(browser, app_server, LAB_RUN, height=1100)
    page = pw.page
    train_briefly(page, min_steps=100)
    open_tab(page, "∂L/∂h_t", "chart_spectral")
    poll(lambda: heatmap_rows(page, "chart_dh") > 0, 30, what="the ∂L/∂h_t heatmap")
    title = page.evaluate(f"k => ({PLOT_JS})(k)?._fullLayout?.title?.text", "chart_dh")
    subtitle = page.evaluate(f"k => ({PLOT_JS})(k)?._fullLayout?.title?.subtitle?.text", "chart_dh")
    assert "as full within each window computes it" in title and "not the full gradient" in subtitle, title
    page.screenshot(path=str(ARTIFACTS / "train_analyse.png"))
    button(page, "btn_analyse").click()
    expect(page.locator(f"{MAIN} h1").first).to_have_text("Gradient lab", timeout=60_000)
    poll(lambda: chart_points(page, "chart_lab_lag_share") > 0, 60, what="the lag share chart")
    lab_settled(page)
    assert checked_radio(page, "lab_weights") == "a run of this session, at a step"
    about = page.locator(f"{MAIN} [data-testid='stAlert']").filter(has_text="Weights:").first.inner_text()
    assert "#1 full within each window at step" in about and "32 × 35 tokens" in about, about
    assert "run=1" in page.url and "step=" in page.url
    page.set_viewport_size({"width": 1400, "height": 1700})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SCREENSHOTS / "lab-lags.png"))

    page.get_by_role("tab", name="Travel and eigenvalues").click()
    poll(lambda: chart_points(page, "chart_lab_travel") > 0, 30, what="the travel chart")
    poll(lambda: chart_points(page, "chart_lab_eigen") > 0, 30, what="the eigenvalue chart")
    page.set_viewport_size({"width": 1400, "height": 1100})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SCREENSHOTS / "lab-travel.png"))

    page.get_by_role("tab", name="Estimators over draws").click()
    button(page, "btn_lab_draw").click()
    poll(lambda: len(chart_traces(page, "chart_lab_plane")) >= 3, 120, what="the estimators' points")
    poll(lambda: chart_points(page, "chart_lab_cos") > 0, 30, what="the cos histogram")
    lab_settled(page)
    page.set_viewport_size({"width": 1400, "height": 1900})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SCREENSHOTS / "lab-estimators.png"))

    train_k = button(page, "btn_lab_train_k")
    label = train_k.inner_text()
    k = int(label.rsplit("=", 1)[1].strip())
    train_k.click()
    expect(page.locator(f"{MAIN} h1").first).to_have_text("Train an RNN with BPTT", timeout=60_000)
    wait_settled(page)
    poll(lambda: checked_radio(page, "cfg_truncation") == "regular", 20, what="regular truncation")
    poll(lambda: slider_value(page, "cfg_k") == str(k), 20, what=f"k = {k}")
    assert f"k={k}" in page.url and "truncation=regular" in page.url
    assert_clean(pw, app_server)
    pw.close()


def language_button(page, name: str):
    """The sidebar's language switch (中文 / English): a segmented control."""
    return page.locator("[data-testid='stSidebar'] .st-key-ui_lang button").filter(has_text=name)


def progress_text(page) -> str:
    """The live panel's status line: "<run name>: <status>"."""
    try:
        return page.locator(f"{MAIN} [data-testid='stProgress']").first.inner_text(timeout=2000)
    except Exception:  # redrawn while read
        return ""


def test_switch_to_chinese_mid_run_keeps_the_run_and_the_link_reproduces_it(app_server, browser):
    """Start a run in English, switch to 中文 with the sidebar switch while it trains: the same run goes
    on training (its step keeps rising, no second run), the page is Chinese and the URL says lang=zh; that
    URL opened in a fresh browser context opens in Chinese with the same settings."""
    pw = open_page(browser, app_server, LONG + "&truncation=randomized&pi=0.8")
    page = pw.page
    control(page, "Start").click()
    before = wait_steps_above(page, 0, timeout=60)
    assert poll(lambda: progress_text(page).startswith("#1 randomized (π=0.8)"), 30, what="the run's name")

    language_button(page, "中文").click()  # a value: sent again with every request, never lost
    poll(lambda: "lang=zh" in page.evaluate("location.href"), 30, what="lang=zh in the URL")
    poll(
        lambda: page.locator(f"{MAIN} h1").first.inner_text() == "用通过时间反向传播训练循环神经网络",
        30,
        what="the title",
    )
    poll(lambda: metric(page, "步数") is not None, 30, what="the Step metric in Chinese")

    def zh_steps() -> int:
        text = metric(page, "步数")
        return int(text.replace(",", "")) if text and text[0].isdigit() else 0

    after = poll(lambda: zh_steps() > before and zh_steps(), 60, what="the step to rise after the switch")
    poll(lambda: zh_steps() > after, 60, what="the step to keep rising")
    shown = poll(lambda: progress_text(page), 10, what="the status line")
    assert shown.startswith("#1 随机截断（π=0.8）"), shown  # the same run (#1), named in Chinese
    assert "训练中" in shown, shown

    def english_shown() -> list[str]:
        """The English texts a reader can still see (a chart being replaced may linger hidden a moment)."""
        shown = []
        for english in ("Train an RNN", "Press Start", "Loss & perplexity", "Sequence length"):
            found = page.get_by_text(english)
            shown += [english for i in range(found.count()) if found.nth(i).is_visible()]
        return shown

    poll(lambda: not english_shown(), 15, what="no English left in view")
    expect(page.locator("[data-testid='stSidebar']").get_by_text("时间步数（num_steps）")).to_be_visible()
    page.set_viewport_size({"width": 1400, "height": 2000})
    poll(lambda: chart_points(page, "chart_loss") > 0, 30, what="the loss chart")
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / "train-zh.png"))  # docs/screenshots/train-zh.png is one
    url = page.evaluate("location.href")

    fresh = PageWatch(browser)
    fresh.page.set_default_timeout(TIMEOUT_MS)
    try:
        fresh.page.goto(url)
        wait_settled(fresh.page)
        other = fresh.page
        assert other.locator(f"{MAIN} h1").first.inner_text() == "用通过时间反向传播训练循环神经网络"
        assert checked_radio(other, "cfg_truncation") == "随机截断"
        assert slider_value(other, "cfg_num_hiddens") == "256" and slider_value(other, "cfg_pi") == "0.8"
        assert "lang=zh" in other.url and "pi=0.8" in other.url and "num_hiddens=256" in other.url
        expect(other.get_by_text("点击 开始 进行训练").first).to_be_visible()  # a fresh session: no run yet
        assert_clean(fresh, app_server)
    finally:
        fresh.close()
    control(page, "停止").click()
    assert_clean(pw, app_server)
    pw.close()


# -- a fast user: two controls in a row, the second 0-500 ms after the first ---------------------------

DELAYS_MS = (0, 100, 250, 500)
ROUNDS = int(os.environ.get("BPTT_FAST_ROUNDS", "1"))  # each round: 8 fresh sessions


def held_steps(page) -> int:
    """The step counter, checked to hold for 2 s once the panel has redrawn."""
    first = settled_step(page)
    page.wait_for_timeout(2000)
    assert step_count(page) == first, f"the step moved: {first} → {step_count(page)}"
    return first


def fast_pair(browser, server, setup_paused: bool, first: str, second: str, delay_ms: int) -> None:
    pw = open_page(browser, server, LONG)
    page = pw.page
    try:
        if setup_paused:  # a run that trained a little and is paused
            control(page, "Start").click()
            wait_steps_above(page, 0, timeout=60)
            control(page, "Pause").click()
            wait_chosen(page, "Pause")
            held_steps(page)
        control(page, first).click()
        if delay_ms:
            page.wait_for_timeout(delay_ms)
        control(page, second).click()
        if second == "Pause":  # the run exists (Start was not lost) and is paused
            wait_chosen(page, "Pause")
            expect(control(page, "Resume")).to_be_visible()
            poll(lambda: "paused" in progress_text(page), 30, what="the run's status: paused")
        else:  # Stop: the run is stopped, and Start offered for the next
            wait_chosen(page, None)
            poll(lambda: "stopped" in progress_text(page), 30, what="the run's status: stopped")
        assert progress_text(page).startswith("#1 "), "one run, built once"
        if step_count(page) is not None:
            held_steps(page)
        assert not page_blank(page)
        assert_clean(pw, server)
    finally:
        pw.close()


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_fast_user_loses_no_click(app_server, browser, round_):
    """Start then Pause, and (on a paused run) Resume then Stop, the second click 0, 100, 250 or 500 ms
    after the first, each pair in a fresh session: the run always ends in the state of the last click."""
    for delay in DELAYS_MS:
        fast_pair(browser, app_server, False, "Start", "Pause", delay)
        fast_pair(browser, app_server, True, "Resume", "Stop", delay)


def compare_pair(browser, server, second: str, delay_ms: int) -> None:
    """Compare, fresh session, the default live settings: Start, then `second` (Pause, or Show: shipped
    after Show: live was chosen first) `delay_ms` later; the page ends in the state of the last click."""
    pw = PageWatch(browser, height=1400)
    page = pw.page
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(server.url + "/compare")
        page.wait_for_selector(SETTLED, timeout=60_000)
        control(page, "Start", "cmp").wait_for()
        poll(lambda: len(chart_traces(page, "cmp_chart")) > 0, 30, what="the shipped chart")
        shipped, mine = "shipped results", "your live comparison"
        if second == shipped:
            pick_radio(page, "ui_cmp_show_0", mine)
            poll(lambda: checked_radio(page, "ui_cmp_show_0") == mine, 30, what="Show: live")
            page.wait_for_selector(SETTLED, timeout=60_000)
        control(page, "Start", "cmp").click()
        if delay_ms:
            page.wait_for_timeout(delay_ms)
        if second == "Pause":
            control(page, "Pause", "cmp").click()
            wait_chosen(page, "Pause", "cmp")
            expect(control(page, "Resume", "cmp")).to_be_visible()
            shown = mine
        else:
            page.locator(f"{MAIN} [data-testid='stRadio']").filter(has_text=shipped).locator(
                "[data-testid='stRadioOption']"
            ).filter(has_text=shipped).first.click()
            wait_chosen(page, "Running", "cmp")
            shown = shipped
        radio = page.locator(f"{MAIN} [data-testid='stRadio']").filter(has_text=shipped).first
        poll(lambda: radio.locator("label:has(input:checked)").inner_text().strip() == shown, 30,
             what=f"Show: {shown}")  # fmt: skip
        page.wait_for_timeout(2500)  # a second redraw of the panel: still so
        assert radio.locator("label:has(input:checked)").inner_text().strip() == shown
        caption = "Live comparison" if shown == mine else "Shipped results"
        expect(page.locator(MAIN).get_by_text(caption).first).to_be_visible()
        assert not page_blank(page)
        assert_clean(pw, server)
        control(page, "Stop", "cmp").click()
        wait_chosen(page, None, "cmp")
    finally:
        pw.close()


def test_a_fast_user_on_compare_loses_no_click(app_server, browser):
    """Compare's Start, then Pause or a Show choice 0, 100, 250 or 500 ms later, each in a fresh session."""
    for delay in DELAYS_MS:
        compare_pair(browser, app_server, "Pause", delay)
        compare_pair(browser, app_server, "shipped results", delay)
