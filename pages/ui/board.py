"""The class board's widgets: open or create a board, draw its posts, and the Train page's "Post this
run to a board" box. Callbacks only change session state; names and titles from users are drawn as text
(st.text, table cells) or escaped in the charts, never as Markdown or HTML."""

from __future__ import annotations

import time

import streamlit as st

from bptt.board import BoardError, BoardStore, Limits, entry_from_history, normalize_code, store_url
from bptt.charts.board import X_CHOICES, applies, curves_chart, final_chart, posts_table
from bptt.i18n import _

from .lang import query_with_language
from .session import guarded, registry

LIMITS = Limits()
CODE = "board_code"  # session_state: the board this session has open (also ?board= in the URL)
NOTE = "board_note"  # session_state: (kind, message) of the last board action, shown once


@st.cache_resource(show_spinner=False)
def _store(url: str) -> BoardStore:
    return BoardStore(url, limits=LIMITS)


def store() -> BoardStore:
    """The process's store, where the environment says (BPTT_BOARD_URL, BPTT_BOARD_DB); BoardError
    when the database cannot be opened (not cached: the next run tries again)."""
    return _store(store_url())


def _note(kind: str, message: str) -> None:
    st.session_state[NOTE] = (kind, message)


def show_note() -> None:
    """The last board action's outcome (messages hold no user text: codes are [A-Z0-9] only)."""
    if (note := st.session_state.pop(NOTE, None)) is not None:
        (st.error if note[0] == "error" else st.success)(note[1])


# -- the board page ------------------------------------------------------------------------------------


def _go_to_board(what: str, act, done: str | None = None) -> None:
    """Run `act()` (it returns a board) under `what`'s guard; the board becomes the page's board, and
    `done` (formatted with its code) is said. A BoardError's message is said instead."""
    with guarded(what):
        try:
            board = act()
        except BoardError as e:
            _note("error", e.message)
            return
        st.session_state[CODE] = board.code
        if done is not None:
            _note("success", done.format(code=board.code))


def _on_open() -> None:
    ss = st.session_state
    _go_to_board(_("Opening the board"), lambda: store().board(ss.get("board_open_input", "")))


def _on_create() -> None:
    ss = st.session_state
    _go_to_board(
        _("Creating a board"),
        lambda: store().create(ss.get("board_title_input", "")),
        _("Board {code} is ready: give your students this code."),
    )


def open_or_create() -> None:
    """Two small forms side by side: a student opens a board by its code, a lecturer creates one."""
    ss = st.session_state
    if ss.get(CODE) is None and (code := st.query_params.get("board")):
        try:
            ss[CODE] = normalize_code(code)
        except BoardError as e:
            st.error(e.message)
    left, right = st.columns(2, gap="medium")
    with left, st.container(border=True):
        st.text_input(_("Board code"), key="board_open_input", max_chars=8)
        st.button(_("Open"), key="btn_board_open", on_click=_on_open)
    with right, st.container(border=True):
        st.text_input(_("Title of a new board"), key="board_title_input", max_chars=LIMITS.title_chars)
        st.button(
            _("Create a board"),
            key="btn_board_create",
            on_click=_on_create,
            help=_("For a lecturer: a new board with a short code; it expires after {days} days.").format(
                days=f"{LIMITS.ttl_days:g}"
            ),
        )


def show_board(db: BoardStore) -> None:
    """The open board: its code and title, the final-perplexity chart, the curves and the table."""
    ss = st.session_state
    code = ss.get(CODE)
    if code is None:
        return
    try:
        board = db.board(code)
        posts = db.posts(code)
    except BoardError as e:
        st.error(e.message)
        ss[CODE] = None
        return
    if st.query_params.get("board") != board.code:
        st.query_params.from_dict(query_with_language({"board": board.code}))
    st.subheader(_("Board {code}").format(code=board.code))
    if board.title:
        st.text(board.title)  # the lecturer's own words, as text
    expires = time.strftime("%Y-%m-%d %H:%M", time.localtime(board.expires))
    st.caption(
        _("{n} of {limit} posts · expires {date} · students post from Train, under Export").format(
            n=board.posts, limit=LIMITS.posts_per_board, date=expires
        )
    )
    if ss.get("ui_board_x") not in X_CHOICES:
        ss["ui_board_x"] = "k"
    with st.container(horizontal=True, vertical_alignment="bottom"):
        x = st.segmented_control(
            _("Across"),
            list(X_CHOICES),
            format_func=lambda k: _(X_CHOICES[k]),
            key="ui_board_x",
            required=True,
        )
        st.button(_("Refresh"), key="btn_board_refresh", icon=":material/refresh:")
    st.plotly_chart(final_chart(posts, x), key="board_final", width="stretch")
    if posts and (left_out := sum(not applies(x, p.entry.settings) for p in posts)):
        st.caption(
            _("{n} posts have no {setting} (another strategy) and are not on this chart.").format(
                n=left_out, setting=_(X_CHOICES[x])
            )
        )
    st.plotly_chart(curves_chart(posts), key="board_curves", width="stretch")
    if posts:
        st.dataframe(posts_table(posts), hide_index=True, width="stretch")


# -- the Train page's box ------------------------------------------------------------------------------


def _on_post(run_id: int) -> None:
    ss = st.session_state
    with guarded(_("Posting the run")):
        if (run := registry().get(run_id)) is None:  # removed since the box was drawn
            return
        try:
            per_epoch = run.trainer.snapshot()[2]  # per-epoch history: epoch, perplexity, tokens, wall_time
            entry = entry_from_history(
                ss.get("board_post_name", ""),
                run.cfg,
                per_epoch["tokens"].to_numpy(),
                per_epoch["perplexity"].to_numpy(),
                LIMITS,
            )
            code = normalize_code(ss.get("board_post_code", ""))
            post = store().post(code, entry)
        except BoardError as e:
            _note("error", e.message)
            return
        ss[CODE] = code
        _note(
            "success",
            _("Posted {run} to board {code} as post {seq}.").format(run=run.name, code=code, seq=post.seq),
        )


def post_box(run) -> None:
    """ "Post this run to a class board" for a run of the session (a bptt.hosting.runs.Run, or None: nothing
    drawn). Only a finished run can be posted: what is sent is its settings, its final perplexity and
    its perplexity curve, thinned to at most Limits.curve_points points."""
    if run is None:
        return
    ss = st.session_state
    if ss.get(CODE) and not ss.get("board_post_code"):
        ss["board_post_code"] = ss[CODE]
    with st.expander(_("Post this run to a class board"), expanded=NOTE in ss):
        st.caption(
            _(
                "Sends {run}'s settings, its final perplexity and its perplexity curve ({points} points at "
                "most), with the name you type; nothing else."
            ).format(run=run.name, points=LIMITS.curve_points)  # fmt: skip
        )
        with st.container(horizontal=True, vertical_alignment="bottom"):
            st.text_input(_("Board code"), key="board_post_code", max_chars=8, width=160)
            st.text_input(_("Your name"), key="board_post_name", max_chars=LIMITS.name_chars, width=260)
            finished = run.status == "finished"
            st.button(
                _("Post"),
                key="btn_board_post",
                on_click=_on_post,
                args=(run.id,),  # an id: a widget's arguments live as long as the session's state
                disabled=not finished,
                help=None if finished else _("Only a finished run can be posted."),
            )
        show_note()
        if ss.get(CODE):
            st.page_link("pages/board.py", label=_("Open the board"), icon=":material/leaderboard:")
