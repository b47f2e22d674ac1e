"""The class board's storage (bptt/board), one suite run against both databases: SQLite (a file) and
PostgreSQL (a throw-away cluster, tests/board_db.py). Bounds, validation, expiry with an injected clock,
concurrent posts from two threads through two stores (two replicas), and what a post keeps."""

from __future__ import annotations

import itertools
import json
import math
import threading

import numpy as np
import pytest
from board_db import postgres_cluster

from bptt.board import BoardError, BoardStore, Entry, Limits, entry_from_history, normalize_code, store_url
from bptt.board.entry import thin, validate
from bptt.config import RunConfig

DAY = 86_400.0


class Clock:
    """An injected clock: seconds since the epoch, moved by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def postgres_server():
    with postgres_cluster() as url:
        yield url


_databases = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty database of each kind; the URL a store opens."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'board.sqlite3'}"
    import psycopg

    server = request.getfixturevalue("postgres_server")
    name = f"board_{next(_databases)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + "/" + name


def entry(name: str = "Ada", ppl: float = 5.0, **settings) -> Entry:
    cfg = RunConfig(**settings)
    return validate(name, cfg, ppl, [(0.0, 30.0), (1000.0, 12.0), (2000.0, ppl)], Limits())


# -- posts round-trip ----------------------------------------------------------------------------------


def test_a_post_reads_back_as_it_was_posted(db_url):
    store = BoardStore(db_url, clock=Clock())
    board = store.create("Week 8: BPTT")
    assert normalize_code(board.code) == board.code and len(board.code) == 6
    posted = [entry("Ada", 4.5, truncation="full"), entry("李雷", 5.25, truncation="randomized", pi=0.8)]
    seqs = [store.post(board.code.lower(), e).seq for e in posted]  # a code typed in lower case
    assert seqs == [1, 2]
    back = store.posts(board.code)
    assert [p.entry for p in back] == posted  # settings, perplexity, curve and name, exactly
    assert store.board(board.code).posts == 2 and store.board(board.code).title == "Week 8: BPTT"
    # A second store on the same database (another replica) sees the same board.
    assert [p.entry for p in BoardStore(db_url, clock=Clock()).posts(board.code)] == posted


def test_a_stored_post_that_does_not_validate_is_left_out(db_url):
    store = BoardStore(db_url, clock=Clock())
    board = store.create("")
    store.post(board.code, entry("good"))
    bad = json.dumps({"settings": {"num_steps": 0}, "perplexity": 3.0, "curve": [[0, 3.0]]})
    with store._transaction() as run:
        run("UPDATE bptt_board SET posts = 2 WHERE code = ?", board.code)
        run("INSERT INTO bptt_board_post VALUES (?, 2, 'bad', 0, ?)", board.code, bad)
    assert [p.entry.name for p in store.posts(board.code)] == ["good"]


# -- bounds --------------------------------------------------------------------------------------------


def test_one_post_more_than_a_board_holds_is_refused(db_url):
    store = BoardStore(db_url, limits=Limits(posts_per_board=3), clock=Clock())
    code = store.create("small").code
    for i in range(3):
        store.post(code, entry(f"s{i}"))
    with pytest.raises(BoardError, match=f"Board {code} is full: it holds 3 posts"):
        store.post(code, entry("one too many"))
    assert [p.entry.name for p in store.posts(code)] == ["s0", "s1", "s2"]
    assert store.board(code).posts == 3


def test_one_board_more_than_a_server_keeps_is_refused_until_one_expires(db_url):
    clock = Clock()
    store = BoardStore(db_url, limits=Limits(boards=2, ttl_days=14), clock=clock)
    first = store.create("a")
    clock.now += DAY
    store.create("b")
    with pytest.raises(BoardError, match="keeps 2 boards"):
        store.create("c")
    clock.now = first.expires  # the first board expires: its place is free again
    assert store.create("c").code


def test_a_post_larger_than_the_bound_is_refused(db_url):
    limits = Limits(post_bytes=400)
    store = BoardStore(db_url, limits=limits, clock=Clock())
    code = store.create("x").code
    big = Entry("Ada", RunConfig(), 3.0, tuple((float(i), 3.0) for i in range(60)))  # bypasses validate
    with pytest.raises(BoardError, match="larger than a board accepts"):
        store.post(code, big)
    with pytest.raises(BoardError, match="at most 400"):
        validate("Ada", RunConfig(), 3.0, big.curve, limits)
    assert store.posts(code) == []


def test_the_largest_valid_run_fits_in_a_post():
    """The byte bound refuses only what no run produces: 40 four-byte characters, 100 points of floats
    with 17 significant digits, every setting at its longest."""
    cfg = RunConfig(
        max_tokens=123_457,
        epochs=161,
        truncation="randomized",
        schedule="linear",
        pi=0.123456789012345678,
        pi_end=0.987654321098765432,
        lr=0.0123456789012345678,
        t0=987.654321098765432,
    )
    curve = [(123_456_789.01234567 + i, 123.45678901234567 + i) for i in range(100)]
    e = validate("𝔸" * 40, cfg, 123.45678901234567, curve, Limits())
    assert len(e.to_json().encode()) + len(e.name.encode()) <= Limits().post_bytes


def test_a_curve_longer_than_the_bound_is_refused():
    curve = [(float(i), 3.0) for i in range(101)]
    with pytest.raises(BoardError, match="101 points, at most 100"):
        validate("Ada", RunConfig(), 3.0, curve, Limits())
    assert len(validate("Ada", RunConfig(), 3.0, curve[:100], Limits()).curve) == 100


# -- validation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["abc123", " ABC123 ", "ABCD", "ABCDEFGH", "00000000"])
def test_codes_that_are_accepted(code):
    assert normalize_code(code) == code.strip().upper()


@pytest.mark.parametrize(
    "code", ["", "ABC", "ABCDEFGHI", "ABC-12", "<script>", "ÄBCDEF", "AB CD", None, 123456]
)
def test_codes_that_are_refused(code):
    with pytest.raises(BoardError, match="4 to 8 letters and digits"):
        normalize_code(code)


def test_a_bad_code_reaches_no_database(db_url):
    store = BoardStore(db_url, clock=Clock())
    for call in (store.board, store.posts, lambda c: store.post(c, entry())):
        with pytest.raises(BoardError, match="4 to 8 letters"):
            call("x'; DROP TABLE bptt_board; --")
    with pytest.raises(BoardError, match="no board ZZZZZZ"):
        store.board("zzzzzz")
    with pytest.raises(BoardError, match="no board ZZZZZZ"):
        store.post("ZZZZZZ", entry())


@pytest.mark.parametrize(
    ("name", "why"),
    [("", "empty"), ("   ", "empty"), ("x" * 41, "too long: 41 characters, at most 40"),
     ("a\x00b", "control characters"), ("a\u202eb", "control characters"), (b"Ada", "must be text")],
)  # fmt: skip
def test_names_that_are_refused(name, why):
    with pytest.raises(BoardError, match=why):
        entry(name)


def test_a_name_is_kept_as_plain_text():
    name = "<script>alert(1)</script>"[:40]
    assert entry(name).name == name  # stored as typed: pages show it as text and charts escape it


def test_a_title_is_bounded(db_url):
    store = BoardStore(db_url, clock=Clock())
    with pytest.raises(BoardError, match="at most 80"):
        store.create("t" * 81)
    assert store.create("  ").title == ""  # a title may be empty


@pytest.mark.parametrize(
    ("settings", "ppl", "curve", "why"),
    [
        ({"num_steps": 1}, 3.0, [(0, 3.0)], "settings are invalid"),
        ({"no_such_setting": 1}, 3.0, [(0, 3.0)], "settings are invalid"),
        ("num_steps=35", 3.0, [(0, 3.0)], "settings are missing"),
        ({}, math.nan, [(0, 3.0)], "finite"),
        ({}, math.inf, [(0, 3.0)], "finite"),
        ({}, True, [(0, 3.0)], "finite"),
        ({}, 0.5, [(0, 3.0)], "at least 1"),
        ({}, 3.0, [], "no perplexity curve"),
        ({}, 3.0, [(0, 3.0, 1.0)], "pair"),
        ({}, 3.0, [(10, 3.0), (5, 2.0)], "must not decrease"),
        ({}, 3.0, [(0, math.nan)], "finite"),
    ],
)
def test_posts_that_are_refused(settings, ppl, curve, why):
    with pytest.raises(BoardError, match=why):
        validate("Ada", settings, ppl, curve, Limits())


def test_only_an_entry_can_be_posted(db_url):
    store = BoardStore(db_url, clock=Clock())
    code = store.create("x").code
    with pytest.raises(BoardError, match="Only a run's summary"):
        store.post(code, {"name": "Ada", "html": "<b>"})


def test_store_url_reads_the_settings(tmp_path):
    assert store_url({"BPTT_BOARD_URL": "postgresql://u@h/db", "BPTT_BOARD_DB": "x"}) == "postgresql://u@h/db"
    assert store_url({"BPTT_BOARD_DB": str(tmp_path / "b.db")}) == f"sqlite:///{tmp_path / 'b.db'}"
    assert store_url({}).startswith("sqlite:///") and store_url({}).endswith("board.sqlite3")
    with pytest.raises(BoardError, match="must start with postgresql://"):
        BoardStore("mysql://u@h/db")


def test_an_unreachable_database_gives_a_message():
    from conftest import free_port

    with pytest.raises(BoardError, match="cannot be reached"):
        BoardStore(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")


# -- expiry --------------------------------------------------------------------------------------------


def test_a_board_expires_after_its_ttl(db_url):
    clock = Clock()
    store = BoardStore(db_url, limits=Limits(ttl_days=14), clock=clock)
    board = store.create("expiring")
    store.post(board.code, entry("early"))
    assert board.expires == clock.now + 14 * DAY
    clock.now = board.expires - 1  # the last second
    assert [p.entry.name for p in store.posts(board.code)] == ["early"]
    store.post(board.code, entry("just in time"))
    clock.now = board.expires
    for call in (store.board, store.posts, lambda c: store.post(c, entry("late"))):
        with pytest.raises(BoardError, match=f"no board {board.code} \\(or it has expired\\)"):
            call(board.code)
    assert store.purge() == 1  # the board and its posts are deleted, not only hidden
    with store._transaction(write=False) as run:
        assert run("SELECT COUNT(*) FROM bptt_board_post").fetchone()[0] == 0
        assert run("SELECT COUNT(*) FROM bptt_board").fetchone()[0] == 0


# -- concurrency ---------------------------------------------------------------------------------------


def _post_concurrently(db_url: str, code: str, per_thread: int, limits: Limits) -> list[list]:
    """Two threads, each with its own store (two replicas), post at once; returns each one's outcomes."""
    barrier = threading.Barrier(2)
    outcomes: list[list] = [[], []]

    def worker(i: int) -> None:
        store = BoardStore(db_url, limits=limits, clock=Clock())
        barrier.wait()
        for j in range(per_thread):
            try:
                outcomes[i].append(store.post(code, entry(f"t{i}-{j}")).seq)
            except BoardError as e:
                outcomes[i].append(e.message)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return outcomes


def test_two_threads_posting_at_once_lose_nothing(db_url):
    store = BoardStore(db_url, clock=Clock())
    code = store.create("race").code
    outcomes = _post_concurrently(db_url, code, 25, Limits())
    seqs = sorted(s for o in outcomes for s in o)
    assert seqs == list(range(1, 51)), outcomes  # every post landed, each in its own place
    names = sorted(p.entry.name for p in store.posts(code))
    assert names == sorted(f"t{i}-{j}" for i in range(2) for j in range(25))


def test_two_threads_posting_at_once_do_not_overfill_a_board(db_url):
    limits = Limits(posts_per_board=30)
    store = BoardStore(db_url, limits=limits, clock=Clock())
    code = store.create("race").code
    outcomes = _post_concurrently(db_url, code, 25, limits)
    landed = [s for o in outcomes for s in o if isinstance(s, int)]
    refused = [s for o in outcomes for s in o if isinstance(s, str)]
    assert sorted(landed) == list(range(1, 31)) and len(refused) == 20
    assert all("is full" in m for m in refused)
    assert len(store.posts(code)) == 30 and store.board(code).posts == 30


# -- a post from a run's history -----------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 99, 100, 101, 500, 2000])
def test_entry_from_history_thins_the_curve_and_keeps_the_ends(n):
    tokens = np.cumsum(np.full(n, 9000.0))
    ppl = 1.0 + 30.0 / np.arange(1, n + 1)
    e = entry_from_history("Ada", RunConfig(), tokens, ppl)
    assert len(e.curve) == min(n, 100)
    assert e.curve[0] == (tokens[0], ppl[0]) and e.curve[-1] == (tokens[-1], ppl[-1])
    assert e.perplexity == ppl[-1]
    # Every kept point is a point of the history (brute force: look each one up).
    lookup = dict(zip(tokens.tolist(), ppl.tolist()))
    assert all(lookup[x] == y for x, y in e.curve)
    xs = [x for x, _y in e.curve]
    assert xs == sorted(set(xs))
    # Evenly spaced: the gaps between kept indices differ by at most one.
    gaps = np.diff(thin(n, 100))
    assert gaps.size == 0 or gaps.max() - gaps.min() <= 1


def test_entry_from_history_refuses_a_diverged_run():
    with pytest.raises(BoardError, match="finite"):
        entry_from_history("Ada", RunConfig(), [1.0, 2.0], [3.0, math.inf])
