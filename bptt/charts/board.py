"""A board's charts: pure functions from its posts to Plotly figures (bptt/charts/style.py's rules: SVG
scatter, `uirevision` on every figure, user text through `html.escape`, since Plotly reads a subset of
HTML in names and hover text).

- `final_chart`: each post's final perplexity against one setting (k, π, num_steps, ...), one colour
  per truncation strategy (d2l §8.7.1's full, regular and randomized);
- `curves_chart`: every post's perplexity curve, coloured by strategy.
"""

from __future__ import annotations

import time

import pandas as pd
import plotly.graph_objects as go

from ..board.store import Post
from ..config import FIELDS, RunConfig
from ..i18n import N_, _
from ..truncation import Strategy
from .style import COLORWAY, HEIGHT, escape, layout, placeholder

STRATEGIES = ("full", "regular", "randomized", "stream")  # d2l §8.7.1; the full computation last
STRATEGY_COLORS = dict(zip(STRATEGIES, COLORWAY))
# The settings a board can put on the x axis; keys are RunConfig fields, values message ids.
X_CHOICES = {
    "k": N_("k (regular truncation)"),
    "pi": N_("π (randomized truncation)"),
    "num_steps": N_("num_steps"),
    "num_hiddens": N_("num_hiddens"),
    "lr": N_("learning rate"),
    "epochs": N_("epochs"),
}
NO_POSTS = N_("No posts yet: runs posted from Train appear here")


def applies(field: str, cfg: RunConfig) -> bool:
    """Whether a setting means anything for this run: k only for regular truncation, π only for a
    randomized run with a constant or linear π_t (ARTBP has none)."""
    if field == "k":
        return cfg.truncation == "regular"
    if field in ("pi", "pi_end"):
        return cfg.truncation == "randomized" and cfg.schedule in ("constant", "linear")
    return True


def strategy_name(truncation: str) -> str:
    return FIELDS["truncation"].choice_text(truncation)


def _hover(post: Post) -> str:
    e = post.entry
    lines = [
        e.name,
        Strategy.of_config(e.settings).title(),
        _("num_steps={n}, {epochs} epochs").format(n=e.settings.num_steps, epochs=e.settings.epochs),
        _("final perplexity {value}").format(value=f"{e.perplexity:.3f}"),
    ]
    return "<br>".join(escape(line) for line in lines)


def final_chart(posts: list[Post], x: str = "k") -> go.Figure:
    """Final perplexity against setting `x`, one trace per strategy; posts where `x` does not apply are
    left out (the page says how many)."""
    title = _("Final perplexity against {setting}").format(setting=_(X_CHOICES[x]))
    uirevision = f"board-final:{x}"
    shown = [p for p in posts if applies(x, p.entry.settings)]
    if not shown:
        return placeholder(title, uirevision, _(NO_POSTS) if not posts else _("No post has this setting"))
    fig = go.Figure()
    for strategy in STRATEGIES:
        group = [p for p in shown if p.entry.settings.truncation == strategy]
        if not group:
            continue
        fig.add_trace(
            go.Scatter(
                x=[getattr(p.entry.settings, x) for p in group],
                y=[p.entry.perplexity for p in group],
                mode="markers",
                marker={"size": 10, "color": STRATEGY_COLORS[strategy], "opacity": 0.8},
                name=escape(strategy_name(strategy)),
                text=[_hover(p) for p in group],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    return layout(fig, title, _(X_CHOICES[x]), _("final perplexity"), uirevision)


def curves_chart(posts: list[Post]) -> go.Figure:
    """Every post's perplexity curve (tokens seen across), coloured by strategy, one legend entry each."""
    title = _("Perplexity curves of the posted runs")
    uirevision = "board-curves"
    if not posts:
        return placeholder(title, uirevision, _(NO_POSTS))
    fig = go.Figure()
    seen: set[str] = set()
    for p in posts:
        strategy = p.entry.settings.truncation
        xs, ys = zip(*p.entry.curve)
        fig.add_trace(
            go.Scatter(
                x=list(xs),
                y=list(ys),
                mode="lines",
                line={"color": STRATEGY_COLORS[strategy], "width": 1.5},
                opacity=0.7,
                name=escape(strategy_name(strategy)),
                legendgroup=strategy,
                showlegend=strategy not in seen,
                text=[_hover(p)] * len(xs),
                hovertemplate="%{text}<br>%{x:,.0f} " + escape(_("tokens")) + "<extra></extra>",
            )
        )
        seen.add(strategy)
    fig.update_yaxes(type="log")
    return layout(fig, title, _("tokens seen"), _("perplexity exp(L)"), uirevision, height=HEIGHT + 40)


TABLE_COLUMNS = {
    "#": "#",
    "name": N_("name"),
    "truncation": N_("truncation"),
    "num_steps": N_("num_steps"),
    "epochs": N_("epochs"),
    "perplexity": N_("final perplexity"),
    "posted": N_("posted"),
}


def posts_table(posts: list[Post]) -> pd.DataFrame:
    """One row per post, headers in the current language (names stay plain text: a table cell is text)."""
    rows = [
        {
            "#": p.seq,
            "name": p.entry.name,
            "truncation": Strategy.of_config(p.entry.settings).title(),
            "num_steps": p.entry.settings.num_steps,
            "epochs": p.entry.settings.epochs,
            "perplexity": round(p.entry.perplexity, 3),
            "posted": time.strftime("%Y-%m-%d %H:%M", time.localtime(p.created)),
        }
        for p in posts
    ]
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).rename(
        columns={k: _(v) for k, v in TABLE_COLUMNS.items()}
    )
