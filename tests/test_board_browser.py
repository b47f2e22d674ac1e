"""The class board in a real browser against `streamlit run app.py` (its own server, with the board's
SQLite file in a temporary folder): a lecturer creates a board, two students each train a small run on
Train and post it, and the lecturer's board shows both. Screenshots: artifacts/board-post.png (Train's
post box after posting), artifacts/board.png and board-zh.png (the board in English and Chinese)."""

from __future__ import annotations

import re

import pytest
from conftest import (
    ARTIFACTS,
    MAIN,
    SETTLED,
    PageWatch,
    app_tracebacks,
    button,
    chart_traces,
    control,
    page_exceptions,
    poll,
    require_chromium,
    start_server,
    wait_settled,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
TIMEOUT_MS = 30_000
TINY = "/train?corpus=bundled&max_tokens=2000&num_hiddens=32&epochs=20"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_chromium()
    db = tmp_path_factory.mktemp("board") / "board.sqlite3"
    s = start_server("test_board_browser", BPTT_BOARD_DB=str(db))
    yield s
    s.stop()


def settle(page) -> None:
    page.wait_for_selector(SETTLED, timeout=TIMEOUT_MS)
    page.wait_for_function("!document.querySelector(\"[data-testid='stSkeleton']\")", timeout=TIMEOUT_MS)


def type_into(page, key: str, text: str) -> None:
    """Type into a text input and commit it (Enter), then wait for the rerun."""
    box = page.locator(f"{MAIN} .st-key-{key} input")
    box.fill(text)
    box.press("Enter")
    page.wait_for_timeout(300)
    settle(page)


def post_a_run(browser, server, query: str, code: str, name: str, seq: int, screenshot: str | None) -> None:
    pw = PageWatch(browser, height=1600)
    page = pw.page
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url + TINY + query)
    wait_settled(page)
    expect(control(page, "Start")).to_be_enabled()
    control(page, "Start").click()
    page.locator(MAIN).get_by_text("Post this run to a class board").click()
    expect(button(page, "btn_board_post")).to_be_enabled(timeout=180_000)  # once the run has finished
    type_into(page, "board_post_code", code.lower())
    type_into(page, "board_post_name", name)
    button(page, "btn_board_post").click()
    page.locator(MAIN).get_by_text(re.compile(f"to board {code} as post {seq}")).wait_for()
    if screenshot:
        page.locator(f"{MAIN} [data-testid='stExpander']").last.screenshot(path=str(ARTIFACTS / screenshot))
    assert not pw.errors and not page_exceptions(page), (pw.errors, page_exceptions(page))
    pw.close()


def test_a_run_posted_from_train_appears_on_the_board(browser, server):
    lecturer = PageWatch(browser, height=1500)
    page = lecturer.page
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server.url + "/board")
    settle(page)
    type_into(page, "board_title_input", "Week 8 <b>BPTT</b>")
    button(page, "btn_board_create").click()
    heading = page.locator(f"{MAIN} h3").filter(has_text=re.compile(r"Board [A-Z0-9]{6}"))
    code = re.search(r"[A-Z0-9]{6}", heading.first.inner_text()).group(0)
    assert f"board={code}" in page.url

    post_a_run(browser, server, "", code, "Ada <img src=x onerror=window.__xss=1>", 1, "board-post.png")
    post_a_run(browser, server, "&truncation=randomized&pi=0.8&num_steps=20", code, "李雷", 2, None)

    button(page, "btn_board_refresh").click()
    settle(page)
    page.locator(f"{MAIN} .st-key-ui_board_x button").filter(has_text="num_steps").click()
    settle(page)
    poll(
        lambda: set(chart_traces(page, "board_final")) == {"full within each window", "randomized"},
        60,
        what="both posts",
    )
    poll(lambda: len(chart_traces(page, "board_curves")) == 2, 60, what="both curves")
    assert page.locator(f"{MAIN} [data-testid='stText']").first.inner_text() == "Week 8 <b>BPTT</b>"
    assert page.locator(f"{MAIN} b").count() == 0  # no markup from a user reached the page
    assert page.evaluate("() => !!window.__xss") is False
    page.screenshot(path=str(ARTIFACTS / "board.png"), full_page=True)
    # The same board in Chinese: the strategies in the book's terms, the posts unchanged.
    page.locator("[data-testid='stSidebar'] .st-key-ui_lang button").filter(has_text="中文").click()
    settle(page)
    zh = {"窗口内完全计算", "随机截断"}
    poll(lambda: set(chart_traces(page, "board_final")) == zh, 60, what="the traces in Chinese")
    poll(lambda: page.locator(f"{MAIN} h1").first.inner_text() == "班级看板", 30, what="the title in Chinese")
    page.screenshot(path=str(ARTIFACTS / "board-zh.png"), full_page=True)
    assert not lecturer.errors and not page_exceptions(page), (lecturer.errors, page_exceptions(page))
    assert app_tracebacks(server.log()) == 0, server.log()[-3000:]
    lecturer.close()
