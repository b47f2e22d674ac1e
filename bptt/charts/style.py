"""The rules every chart in bptt/charts/ follows, and the helpers that apply them.

- SVG `go.Scatter`, never `Scattergl`: redrawn every half second, WebGL blocks the browser's main thread.
- At most about `MAX_POINTS` points a series (first and last kept, `downsample`), because every redraw
  re-sends it all.
- `uirevision` on every figure (`figure` and `layout` require one), so that a zoom survives the next redraw.
- Text from the user (a corpus, an uploaded file's name, a strategy typed in a URL) goes through
  `escape`: Plotly reads a subset of HTML in titles, names and hover text.
- One look: `COLORWAY`, `HEIGHT`, a title in the top left with the legend in a row under it (`figure`,
  `layout`),
  log axes with at least three labelled ticks (`log_y`), and a placeholder while there is no data yet.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..i18n import N_, _

MAX_POINTS = 2000  # points a line series keeps after downsampling
HEIGHT = 330  # px, default figure height
# Distinct hues for overlaid runs (the Streamlit theme's first two are two blues, hard to tell apart).
COLORWAY = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
EMPTY = N_("No data yet — press Start")  # a message id: shown as _(EMPTY)


def escape(text: str) -> str:
    """User text made safe for Plotly's titles, names and hover text (it reads a subset of HTML)."""
    return html.escape(str(text))


def even(n: int, m: int) -> np.ndarray:
    """Indices of at most m evenly spaced positions in range(n), the first and the last included."""
    if n <= m:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max(m, 2)).round().astype(int))


def downsample(n: int, max_points: int = MAX_POINTS, keep: np.ndarray | None = None) -> np.ndarray:
    """Indices to draw of a series of length n: evenly spaced, plus the positions where `keep` is True
    (thinned too if they alone would take more than half the budget)."""
    kept = np.flatnonzero(keep) if keep is not None else np.array([], dtype=int)
    if len(kept) > max_points // 2:
        kept = kept[even(len(kept), max_points // 2)]
    return np.union1d(even(n, max_points - len(kept)), kept).astype(int)


def _layout(title: str | dict, xlabel: str, ylabel: str, uirevision: str, kw: dict) -> dict:
    """The layout all charts share, as a dict: the title in the top left (a dict replaces its placing),
    a legend in a row under it, compact margins, COLORWAY, a fixed `uirevision` (a zoom survives the next
    redraw), the axis titles. `kw` adds to the layout or replaces a part of it (height, margin, ...)."""
    top_left = {"text": title, "x": 0.01, "y": 0.98, "yanchor": "top", "font": {"size": 14}}
    settings = {
        "title": title if isinstance(title, dict) else top_left,
        "height": HEIGHT,
        "margin": {"l": 55, "r": 15, "t": 64, "b": 40},  # room for the title and, under it, the legend
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
        "colorway": COLORWAY,
    }
    settings |= kw
    for axis, label in (("xaxis", xlabel), ("yaxis", ylabel)):
        if label:
            settings[axis] = {"title": {"text": label}} | settings.get(axis, {})
    return settings | {"uirevision": uirevision}


def figure(
    traces: list[dict], title: str | dict, xlabel: str, ylabel: str, uirevision: str, **kw
) -> go.Figure:
    """A one-panel figure built in one go from trace dicts ({"type": "scatter", ...}) and the shared
    layout (`_layout`; `kw` as for `layout`, with `xaxis`/`yaxis` dicts merged under the axis titles).
    Plotly validates a figure once at construction; each later update_layout or update_axes validates
    again, about ten times the cost, and the live panel redraws its charts every second."""
    return go.Figure({"data": traces, "layout": _layout(title, xlabel, ylabel, uirevision, kw)})


def layout(fig: go.Figure, title: str, xlabel: str, ylabel: str, uirevision: str, **kw) -> go.Figure:
    """`_layout` applied to a figure built already (one with subplots, say). Axis titles go on every
    axis of a figure with subplots; an empty one is left alone."""
    settings = _layout(title, "", "", uirevision, kw)
    fig.update_layout(**settings)
    if xlabel:
        fig.update_xaxes(title_text=xlabel)
    if ylabel:
        fig.update_yaxes(title_text=ylabel)
    return fig


# Tick values for a log axis, sparsest first: decades, then 1-3, 1-2-5 and every digit of a decade.
LOG_TICK_DIGITS = ((1,), (1, 3), (1, 2, 5), tuple(range(1, 10)))


def log_ticks(vmin: float, vmax: float, least: int = 3, most: int = 8) -> list[float] | None:
    """The sparsest set of "round" ticks (1, 2, 5, ... times a power of ten) with at least `least` of them
    between vmin and vmax, or None if even every digit gives fewer (Plotly's own ticks then)."""
    if not (0 < vmin <= vmax and math.isfinite(vmax)):
        return None
    lo, hi = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
    for digits in LOG_TICK_DIGITS:
        ticks = [d * 10.0**e for e in range(lo, hi + 1) for d in digits]
        ticks = [t for t in ticks if vmin * (1 - 1e-9) <= t <= vmax * (1 + 1e-9)]
        if len(ticks) >= least:
            return ticks if len(ticks) <= most else ticks[:: math.ceil(len(ticks) / most)]
    return None


def log_axis(values) -> dict:
    """A log axis with at least three labelled ticks wherever the data allow (a chart with one tick
    cannot be read), written as powers of ten (10⁻⁵), never as SI prefixes (10μ)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    ticks = log_ticks(float(v.min()), float(v.max())) if v.size else None
    return {"type": "log", "tickvals": ticks, "exponentformat": "power"}


def log_y(fig: go.Figure, values, **where) -> go.Figure:
    """`log_axis` on a figure built already (`where` selects its y axes)."""
    return fig.update_yaxes(**log_axis(values), **where)


def placeholder(title: str, uirevision: str, message: str | None = None) -> go.Figure:
    """An empty figure with a centred message (by default EMPTY, translated), so a page can draw the
    chart before the first step."""
    text = _(EMPTY) if message is None else message
    note = {"text": text, "x": 0.5, "y": 0.5, "xref": "paper", "yref": "paper", "showarrow": False}
    hidden = {"visible": False}
    return figure([], title, "", "", uirevision, annotations=[note], xaxis=hidden, yaxis=hidden)


def is_empty(df: pd.DataFrame | None, *columns: str) -> bool:
    return df is None or len(df) == 0 or any(c not in df.columns for c in columns)
