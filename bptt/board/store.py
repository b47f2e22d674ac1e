"""Boards and their posts in a real database: SQLite by default, PostgreSQL by URL, the same SQL for both.

Why the standard library's sqlite3 and psycopg 3 directly, not an ORM: the whole store is five statements
and two tables; what differs between the two databases is how a transaction takes its lock, and that is
clearer written out (`_Backend`) than configured through a toolkit's events. One connection per call:
calls are rare (a class posts a few hundred times a day), and nothing is shared between threads.

Bounds hold under concurrency by construction:
- a post claims its place with one conditional UPDATE of the board's counter
  (`posts < limit AND expires > now`), which both databases serialize on the board's row, so two
  students posting at once both land, and a full board refuses the one past its limit;
- creating a board counts the live boards under a lock on the board table (SQLite: BEGIN IMMEDIATE,
  which takes the database's write lock; PostgreSQL: LOCK TABLE ... SHARE ROW EXCLUSIVE).

Settings (read by `store_url`): BPTT_BOARD_URL, a PostgreSQL URL (postgresql://user:pass@host/db) for a
deployment of several replicas; otherwise BPTT_BOARD_DB, the SQLite file's path (default: the user's data
folder, bptt-lab/board.sqlite3).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from ..i18n import _
from .entry import BoardError, Entry, Limits, clean_text

log = logging.getLogger("bptt_lab.board")

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread from a projector
CODE_LENGTH = 6  # 32^6 ≈ 10^9 codes: a guess hits one of 500 live boards with odds about 5·10^-7
CODE_PATTERN = re.compile(r"[A-Z0-9]{4,8}")  # what a code may be, typed or in a URL

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS bptt_board (
        code VARCHAR(8) PRIMARY KEY,
        title VARCHAR(200) NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        expires DOUBLE PRECISION NOT NULL,
        posts INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE IF NOT EXISTS bptt_board_post (
        code VARCHAR(8) NOT NULL REFERENCES bptt_board (code),
        seq INTEGER NOT NULL,
        name VARCHAR(200) NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        payload TEXT NOT NULL,
        PRIMARY KEY (code, seq)
    )""",
)


@dataclass(frozen=True)
class Board:
    """A board as its page shows it."""

    code: str  # the short code students type
    title: str  # the lecturer's title (plain text)
    created: float  # seconds since the epoch
    expires: float  # seconds since the epoch; the board is gone after this
    posts: int  # posts so far


@dataclass(frozen=True)
class Post:
    """One student's post on a board."""

    seq: int  # 1, 2, ... in the order the board received them
    created: float  # seconds since the epoch
    entry: Entry


def normalize_code(code: object) -> str:
    """A board code as typed (spaces and case forgiven), or BoardError."""
    text = code.strip().upper() if isinstance(code, str) else ""
    if not CODE_PATTERN.fullmatch(text):
        raise BoardError(_("A board code is 4 to 8 letters and digits (A–Z, 0–9)."))
    return text


def store_url(environ: Mapping[str, str] | None = None) -> str:
    """Where the boards live, from the environment (see the module's docstring)."""
    env = os.environ if environ is None else environ
    if url := env.get("BPTT_BOARD_URL", "").strip():
        return url
    path = env.get("BPTT_BOARD_DB", "").strip()
    if not path:
        import platformdirs

        path = str(Path(platformdirs.user_data_dir("bptt-lab", appauthor=False)) / "board.sqlite3")
    return "sqlite:///" + path


@dataclass(frozen=True)
class _Backend:
    """What differs between the two databases: connecting, the placeholder, how a writer locks."""

    connect: Callable[[], object]  # a DB-API connection in autocommit mode (we BEGIN ourselves)
    placeholder: str  # the driver's parameter marker; the SQL below is written with "?"
    begin_write: str  # starts a transaction that will write
    lock_boards: str | None  # serializes board creation (the count of live boards, then the insert)
    lock_schema: str | None  # serializes CREATE TABLE IF NOT EXISTS between replicas
    errors: tuple[type[Exception], ...]  # the driver's errors: the database is unreachable or broken


def _sqlite(path: str) -> _Backend:
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)

    def connect():
        # timeout: a writer waits up to 30 s for another's lock instead of failing at once.
        return sqlite3.connect(Path(path).expanduser(), timeout=30, isolation_level=None)

    return _Backend(connect, "?", "BEGIN IMMEDIATE", None, None, (sqlite3.Error,))


def _postgres(url: str) -> _Backend:
    import psycopg

    def connect():
        return psycopg.connect(url, autocommit=True, connect_timeout=10)

    return _Backend(
        connect,
        "%s",
        "BEGIN",
        "LOCK TABLE bptt_board IN SHARE ROW EXCLUSIVE MODE",
        "SELECT pg_advisory_xact_lock(871871)",  # any constant: this store's schema lock
        (psycopg.Error,),
    )


def _backend(url: str) -> _Backend:
    if url.startswith("sqlite:///"):
        return _sqlite(url[len("sqlite:///") :])
    if url.startswith(("postgresql://", "postgres://")):
        return _postgres(url)
    raise BoardError(_("The board's database URL must start with postgresql:// or sqlite:///."))


class BoardStore:
    """Boards and posts, bounded by `limits`, expiring `limits.ttl_days` after creation.

    `clock` gives the time in seconds since the epoch (tests inject one). Every method raises
    BoardError, with a message for the user, for anything it refuses or cannot do."""

    def __init__(
        self, url: str, limits: Limits | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.limits = limits or Limits()
        self.clock = clock
        self._db = _backend(url)
        with self._transaction() as run:
            if self._db.lock_schema:
                run(self._db.lock_schema)
            for statement in SCHEMA:
                run(statement)
        if url.startswith("sqlite:///"):
            with self._connection() as conn:
                conn.execute("PRAGMA journal_mode=WAL")  # readers do not wait for a writer

    # -- transactions ------------------------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator:
        try:
            conn = self._db.connect()
        except self._db.errors as e:
            log.warning("board database unreachable: %s", e)
            raise BoardError(_("The class board's database cannot be reached right now.")) from e
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _transaction(self, write: bool = True, lock_boards: bool = False) -> Iterator[Callable]:
        """A transaction (one that will write takes the writer's lock at once); yields
        run(sql, *params) -> cursor. Commits at the end of the block, rolls back on any exception."""
        with self._connection() as conn:
            cur = conn.cursor()
            try:
                cur.execute(self._db.begin_write if write else "BEGIN")
                if lock_boards and self._db.lock_boards:
                    cur.execute(self._db.lock_boards)

                def run(sql: str, *params):
                    cur.execute(sql.replace("?", self._db.placeholder), params)
                    return cur

                yield run
                cur.execute("COMMIT")
            except BaseException as e:
                with suppress(self._db.errors):
                    cur.execute("ROLLBACK")
                if isinstance(e, self._db.errors):
                    log.exception("board database error")
                    raise BoardError(_("The class board's database failed; nothing was changed.")) from e
                raise

    # -- boards ------------------------------------------------------------------------------------
    def create(self, title: str) -> Board:
        """A new board with a fresh code; refused when the server already keeps `limits.boards`."""
        title = clean_text(title, self.limits.title_chars, _("The title"), required=False)
        now = self.clock()
        with self._transaction(lock_boards=True) as run:
            self._purge(run, now)
            live = run("SELECT COUNT(*) FROM bptt_board").fetchone()[0]
            if live >= self.limits.boards:
                raise BoardError(
                    _(
                        "This server keeps {limit} boards and has no room for another; try again after "
                        "one expires."
                    ).format(limit=self.limits.boards)  # fmt: skip
                )
            while True:
                code = "".join(secrets.choice(CODE_ALPHABET) for _i in range(CODE_LENGTH))
                if run("SELECT 1 FROM bptt_board WHERE code = ?", code).fetchone() is None:
                    break
            expires = now + self.limits.ttl_seconds
            run("INSERT INTO bptt_board (code, title, created, expires, posts) VALUES (?, ?, ?, ?, 0)",
                code, title, now, expires)  # fmt: skip
        return Board(code, title, now, expires, 0)

    def board(self, code: str) -> Board:
        """The live board with this code, or BoardError (no such board, or it expired)."""
        code = normalize_code(code)
        with self._transaction(write=False) as run:
            row = run(
                "SELECT code, title, created, expires, posts FROM bptt_board WHERE code = ? AND expires > ?",
                code,
                self.clock(),
            ).fetchone()
        if row is None:
            raise BoardError(_("There is no board {code} (or it has expired).").format(code=code))
        return Board(*row)

    def purge(self) -> int:
        """Delete the expired boards and their posts; returns how many boards went."""
        with self._transaction(lock_boards=True) as run:
            return self._purge(run, self.clock())

    @staticmethod
    def _purge(run, now: float) -> int:
        expired = "SELECT code FROM bptt_board WHERE expires <= ?"
        run(f"DELETE FROM bptt_board_post WHERE code IN ({expired})", now)
        return run("DELETE FROM bptt_board WHERE expires <= ?", now).rowcount

    # -- posts -------------------------------------------------------------------------------------
    def post(self, code: str, entry: Entry) -> Post:
        """Add a post; refused when the board is missing, expired, or holds `limits.posts_per_board`."""
        code = normalize_code(code)
        if not isinstance(entry, Entry):
            raise BoardError(_("Only a run's summary can be posted."))
        payload = entry.to_json()
        size = len(payload.encode()) + len(entry.name.encode())
        if size > self.limits.post_bytes or len(entry.curve) > self.limits.curve_points:
            raise BoardError(_("The post is larger than a board accepts."))
        now = self.clock()
        with self._transaction() as run:
            # Claims the next place, or nothing when the board is missing, expired or full: the database
            # serializes this UPDATE on the board's row, so concurrent posts neither collide nor overfill.
            claimed = run(
                "UPDATE bptt_board SET posts = posts + 1 WHERE code = ? AND expires > ? AND posts < ?",
                code,
                now,
                self.limits.posts_per_board,
            ).rowcount
            if claimed != 1:
                exists = run("SELECT 1 FROM bptt_board WHERE code = ? AND expires > ?", code, now).fetchone()
                if exists is None:
                    raise BoardError(_("There is no board {code} (or it has expired).").format(code=code))
                raise BoardError(
                    _("Board {code} is full: it holds {limit} posts.").format(
                        code=code, limit=self.limits.posts_per_board
                    )
                )
            seq = run("SELECT posts FROM bptt_board WHERE code = ?", code).fetchone()[0]
            run("INSERT INTO bptt_board_post (code, seq, name, created, payload) VALUES (?, ?, ?, ?, ?)",
                code, seq, entry.name, now, payload)  # fmt: skip
        return Post(seq, now, entry)

    def posts(self, code: str) -> list[Post]:
        """The posts of a live board, oldest first (at most `limits.posts_per_board`)."""
        board = self.board(code)
        with self._transaction(write=False) as run:
            rows = run(
                "SELECT seq, name, created, payload FROM bptt_board_post WHERE code = ? ORDER BY seq LIMIT ?",
                board.code,
                self.limits.posts_per_board,
            ).fetchall()
        posts = []
        for seq, name, created, payload in rows:
            try:
                posts.append(Post(seq, created, Entry.from_json(name, payload, self.limits)))
            except BoardError:
                log.warning("board %s: post %s is unreadable and is left out", board.code, seq)
        return posts


def open_store(environ: Mapping[str, str] | None = None, **kwargs) -> BoardStore:
    """The store the environment names (BPTT_BOARD_URL, else the SQLite file BPTT_BOARD_DB)."""
    return BoardStore(store_url(environ), **kwargs)
