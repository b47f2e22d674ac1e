"""The Class board page and Train's "Post this run to a class board" under AppTest: the board's charts
drawn from posted data in both languages, user text shown as text (a name with <script> never becomes
markup), bad codes and an unreachable database answered with a message, a finished run posted from Train.
The board's database is a fresh SQLite file per test (BPTT_BOARD_DB)."""

from __future__ import annotations

import json
import re

import pytest
from conftest import press, wait_until
from i18n_check import english_left
from streamlit.testing.v1 import AppTest
from test_app import APP, TIMEOUT, TINY, click, tick

from bptt.board import BoardStore, store_url
from bptt.board.entry import validate
from bptt.charts.board import strategy_name
from bptt.config import RunConfig
from bptt.hosting.slots import shared_slots
from bptt.i18n import use_language

PAGE = "pages/board.py"
SCRIPT = "<script>alert(1)</script>"
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def board_db(tmp_path, monkeypatch):
    monkeypatch.delenv("BPTT_BOARD_URL", raising=False)
    monkeypatch.setenv("BPTT_BOARD_DB", str(tmp_path / "board.sqlite3"))
    shared_slots(capacity=64)
    return BoardStore(store_url())


POSTS = [  # (name, settings, final perplexity)
    ("Ada", {"truncation": "full"}, 4.0),
    (SCRIPT, {"truncation": "regular", "k": 10}, 5.0),
    ("李雷", {"truncation": "regular", "k": 35}, 4.5),
    ("Grace", {"truncation": "randomized", "pi": 0.8}, 6.0),
]


def posted_board(db: BoardStore) -> str:
    code = db.create("Week 8 <b>BPTT</b>").code
    for name, settings, ppl in POSTS:
        db.post(code, validate(name, RunConfig(**settings), ppl, [(0, 20.0), (5000, ppl)], db.limits))
    return code


def open_board(lang: str = "en", **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["lang"] = lang
    at.run(timeout=TIMEOUT)
    at.query_params.update({"lang": lang, **params})
    at.switch_page(PAGE).run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    return at


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def markup(at: AppTest) -> str:
    """Everything the page renders as Markdown (where HTML or Markdown from a user would act)."""
    return " ".join(
        m.value for m in [*at.markdown, *at.caption, *at.subheader, *at.title, *at.info, *at.error]
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_board_draws_the_posted_runs_in_both_languages(board_db, lang):
    code = posted_board(board_db)
    at = open_board(lang, board=code)
    final, curves = charts(at)
    with use_language(lang):
        names = {s: strategy_name(s) for s in ("full", "regular", "randomized")}
    # Final perplexity against k (the default): only the two regular runs have a k.
    assert [t["name"] for t in final["data"]] == [names["regular"]]
    assert final["data"][0]["x"] == [10, 35] and final["data"][0]["y"] == [5.0, 4.5]
    # Against π: only the randomized run. (AppTest sends the option's label, formatted in the test's
    # thread: in the page's language.)
    with use_language(lang):
        at.segmented_control(key="ui_board_x").set_value("pi").run(timeout=TIMEOUT)
    final = charts(at)[0]
    assert [(t["name"], t["x"], t["y"]) for t in final["data"]] == [(names["randomized"], [0.8], [6.0])]
    # The curves: one line per post, coloured by strategy, one legend entry per strategy.
    assert [t["y"][-1] for t in curves["data"]] == [4.0, 5.0, 4.5, 6.0]
    assert [t["showlegend"] for t in curves["data"]] == [True, True, False, True]
    table = at.dataframe[0].value
    assert list(table.iloc[:, 1]) == [name for name, _s, _p in POSTS]
    assert at.text[0].value == "Week 8 <b>BPTT</b>"  # the title as text
    if lang == "zh":
        assert at.title[0].value == "班级看板" and HAN.search(final["layout"]["title"]["text"])
        users = {"Ada", "Grace", "Week", "BPTT", "script", "alert", "b"}  # the posted names and title
        assert [w for w in english_left(at, allowed=users) if w not in code] == []


def test_a_name_with_a_script_tag_is_shown_as_text(board_db):
    code = posted_board(board_db)
    at = open_board("en", board=code)
    hover = [h for spec in charts(at) for t in spec["data"] for h in t.get("text", [])]
    assert hover and all(SCRIPT not in h and "<b>" not in h for h in hover)
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in h for h in hover)
    assert SCRIPT not in markup(at) and "<b>" not in markup(at)
    assert SCRIPT in list(at.dataframe[0].value.iloc[:, 1])  # a table cell: text


def test_a_lecturer_creates_a_board_and_a_student_opens_it(board_db):
    at = open_board("en")
    at.text_input(key="board_title_input").set_value("Week 8 *BPTT*")
    click(at, "btn_board_create")
    code = at.session_state["board_code"]
    assert f"Board {code} is ready" in at.success[0].value
    assert at.query_params["board"] == code
    assert at.text[0].value == "Week 8 *BPTT*"
    other = open_board("en")
    other.text_input(key="board_open_input").set_value(code.lower())
    click(other, "btn_board_open")
    assert other.subheader[0].value == f"Board {code}"
    assert "No posts yet" in charts(other)[0]["layout"]["annotations"][0]["text"]


@pytest.mark.parametrize(("code", "message"), [("ab", "4 to 8 letters"), ("ZZZZZZ", "no board ZZZZZZ")])
def test_a_bad_code_gets_a_message(board_db, code, message):
    at = open_board("en")
    at.text_input(key="board_open_input").set_value(code)
    click(at, "btn_board_open")
    assert message in at.error[0].value
    assert at.session_state["board_code"] is None if "board_code" in at.session_state else True
    at = open_board("en", board=code)  # the same code in a link
    assert message in at.error[0].value and not at.get("plotly_chart")


def test_an_unreachable_database_gets_a_message(monkeypatch):
    from conftest import free_port

    monkeypatch.setenv("BPTT_BOARD_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    at = open_board("en")
    assert "cannot be reached" in at.error[0].value
    assert at.title[0].value == "Class board"


def test_a_finished_run_is_posted_from_train(board_db):
    code = board_db.create("class").code
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    at.query_params.update(TINY)
    at.switch_page("pages/train.py").run(timeout=TIMEOUT)
    press(at, "running")
    run = at.session_state["registry"].list()[-1]
    wait_until(at, lambda: run.trainer.status == "finished", what="the run to finish")
    tick(at)
    at.text_input(key="board_post_code").set_value(code.lower())
    at.text_input(key="board_post_name").set_value(SCRIPT)
    click(at, "btn_board_post")
    assert any(f"to board {code} as post 1" in s.value for s in at.success)
    [post] = board_db.posts(code)
    epochs = run.trainer.history.epochs
    assert post.entry.name == SCRIPT and post.entry.settings == run.cfg
    assert post.entry.perplexity == epochs["perplexity"][-1] == run.trainer.perplexity()
    assert post.entry.curve == tuple(zip(epochs["tokens"], epochs["perplexity"]))  # 2 epochs: all kept
    assert SCRIPT not in markup(at)
    # A second post of the same run to a board that does not exist: a message, nothing posted.
    at.text_input(key="board_post_code").set_value("NOPE99")
    click(at, "btn_board_post")
    assert "no board NOPE99" in at.error[0].value and len(board_db.posts(code)) == 1


def test_an_unfinished_run_cannot_be_posted(board_db):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    at.query_params.update({**TINY, "epochs": "500", "max_tokens": "20000"})
    at.switch_page("pages/train.py").run(timeout=TIMEOUT)
    press(at, "running")
    assert at.session_state["registry"].list()[-1].trainer.status != "finished"
    assert at.button(key="btn_board_post").disabled
