"""The board's charts as pure functions of its posts (bptt/charts/board.py): which post lands in which
trace, at which x, checked by regrouping the posts by hand; user text escaped; placeholders when empty."""

from __future__ import annotations

import pytest

from bptt.board import Limits, Post
from bptt.board.entry import validate
from bptt.charts.board import X_CHOICES, applies, curves_chart, final_chart, posts_table, strategy_name
from bptt.config import RunConfig

SETTINGS = [
    {"truncation": "full", "num_steps": 20},
    {"truncation": "regular", "k": 5},
    {"truncation": "regular", "k": 10, "num_hiddens": 64},
    {"truncation": "randomized", "pi": 0.8},
    {"truncation": "randomized", "schedule": "artbp"},
    {"truncation": "randomized", "schedule": "linear", "pi": 0.9, "pi_end": 0.6, "lr": 0.5},
]


def posts() -> list[Post]:
    out = []
    for i, s in enumerate(SETTINGS):
        ppl = 3.0 + i
        entry = validate(f"<i>s{i}</i>", RunConfig(**s), ppl, [(0, 30.0), (100, 10.0), (200, ppl)], Limits())
        out.append(Post(i + 1, 0.0, entry))
    return out


@pytest.mark.parametrize("x", list(X_CHOICES))
def test_each_post_is_in_its_strategy_trace_at_its_setting(x):
    fig = final_chart(posts(), x)
    got = sorted((t.name, xv, yv) for t in fig.data for xv, yv in zip(t.x, t.y))
    # By hand: the posts where the setting applies, grouped by truncation.
    want = sorted(
        (strategy_name(p.entry.settings.truncation), getattr(p.entry.settings, x), p.entry.perplexity)
        for p in posts()
        if applies(x, p.entry.settings)
    )
    assert got == want and got
    assert fig.layout.uirevision == f"board-final:{x}"


def test_k_applies_to_regular_and_pi_to_constant_or_linear_randomized():
    cfgs = [RunConfig(**s) for s in SETTINGS]
    assert [applies("k", c) for c in cfgs] == [False, True, True, False, False, False]
    assert [applies("pi", c) for c in cfgs] == [False, False, False, True, False, True]
    assert all(applies("num_steps", c) for c in cfgs)


def test_curves_one_line_per_post_one_legend_entry_per_strategy():
    fig = curves_chart(posts())
    assert [t.y[-1] for t in fig.data] == [p.entry.perplexity for p in posts()]
    shown = [t.name for t in fig.data if t.showlegend]
    assert shown == [strategy_name(s) for s in ("full", "regular", "randomized")]
    assert fig.layout.yaxis.type == "log"


def test_user_text_is_escaped_in_every_hover():
    hovers = [h for fig in (final_chart(posts(), "num_steps"), curves_chart(posts())) for t in fig.data
              for h in t.text]  # fmt: skip
    assert hovers and all("<i>" not in h for h in hovers)
    assert all("&lt;i&gt;s" in h for h in hovers)


def test_no_posts_draws_a_placeholder():
    for fig in (final_chart([], "k"), curves_chart([])):
        assert not fig.data and "No posts yet" in fig.layout.annotations[0].text
    only_full = [p for p in posts() if p.entry.settings.truncation == "full"]
    assert "No post has this setting" in final_chart(only_full, "k").layout.annotations[0].text


def test_the_table_keeps_names_as_typed():
    table = posts_table(posts())
    assert list(table["name"]) == [f"<i>s{i}</i>" for i in range(len(SETTINGS))]
    assert list(table["final perplexity"]) == [3.0 + i for i in range(len(SETTINGS))]
    assert len(table.columns) == 7
