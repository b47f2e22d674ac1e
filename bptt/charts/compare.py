"""The Compare page's chart: per strategy, the mean curve over seeds with a band (d2l §8.7.1.4's
comparison, Fig. 8.7.1, made with several seeds). A pure function of a comparison's curves table.

The curves of each strategy's seeds are put on a common grid of the x axis (bptt.compare.stats.aggregate,
linear interpolation, NaN outside a run's own range); the line is their mean, the band either min-max
or mean +- 1 sd (sample sd, ddof 1). SVG go.Scatter, at most style.MAX_POINTS points in the whole
figure (three series per strategy share them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..compare.stats import aggregate
from ..i18n import N_, _, ngettext
from ..truncation import Strategy
from .style import COLORWAY, MAX_POINTS, layout, placeholder

GRID = 200  # points per series at most
METRICS = {
    "perplexity": N_("perplexity exp(L) on the training stream"),
    "recall_perplexity": N_("recall perplexity (held-out recall positions)"),
}
AXES = {"tokens": N_("tokens seen"), "wall_time": N_("training time (s)")}
TICKS = [1, 1.1, 1.2, 1.5, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 70, 100, 200, 500, 1000, 2000, 5000]
BANDS = {"minmax": N_("min–max"), "sd": N_("±1 sd")}


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def comparison_chart(
    curves: pd.DataFrame, metric: str = "perplexity", x: str = "tokens", band: str = "minmax"
) -> go.Figure:
    """Mean of the seeds per strategy with a shaded band; the title says how many seeds and which band."""
    ylabel = _(METRICS.get(metric, metric))
    if curves is None or curves.empty or metric not in curves.columns or x not in curves.columns:
        return placeholder(ylabel, "compare", _("No finished run yet"))
    n_strategies = max(curves["strategy"].nunique(), 1)
    agg = aggregate(curves, x, metric, points=min(GRID, MAX_POINTS // (3 * n_strategies)))
    seeds = curves.groupby("strategy", sort=False)["seed"].nunique()
    fig = go.Figure()
    for i, (strategy, g) in enumerate(agg.groupby("strategy", sort=False)):
        color = COLORWAY[i % len(COLORWAY)]
        xs, mean = g[x].to_numpy(float), g["mean"].to_numpy(float)
        if band == "sd":
            sd = np.nan_to_num(g["sd"].to_numpy(float))
            lo, hi = mean - sd, mean + sd
        else:
            lo, hi = g["min"].to_numpy(float), g["max"].to_numpy(float)
        fig.add_trace(go.Scatter(x=xs, y=hi, mode="lines", line={"width": 0}, hoverinfo="skip",
                                 showlegend=False, legendgroup=strategy))  # fmt: skip
        fig.add_trace(go.Scatter(x=xs, y=lo, mode="lines", line={"width": 0}, fill="tonexty",
                                 fillcolor=_rgba(color, 0.18), hoverinfo="skip", showlegend=False,
                                 legendgroup=strategy))  # fmt: skip
        n, title = int(seeds.get(strategy, 0)), Strategy.title_of(strategy)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=mean,
                mode="lines",
                name=f"{title} (n={n})",
                legendgroup=strategy,
                line={"color": color, "width": 2},
                hovertemplate="%{x:.4g}: %{y:.4g}<extra>" + title + "</extra>",
            )
        )
    n_seeds = int(seeds.max()) if len(seeds) else 0
    title = ngettext(
        "Mean of {n} seed per strategy; band = {band}",
        "Mean of {n} seeds per strategy; band = {band}",
        n_seeds,
    ).format(n=n_seeds, band=_(BANDS[band]))
    layout(fig, title, _(AXES.get(x, x)), ylabel, "compare", height=400)
    # A log y axis: the curves fall over a decade, and the seeds' bands near the end (a few hundredths)
    # would be invisible on a linear axis scaled to the first epochs. Ticks written in full (Plotly's own
    # log ticks label 20 as "2").
    values = agg[["mean", "min", "max"]].to_numpy(float)
    values = values[np.isfinite(values) & (values > 0)]
    ticks = [t for t in TICKS if values.size and values.min() / 1.1 <= t <= values.max() * 1.1]
    return fig.update_yaxes(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
