"""Figures of the guided path through d2l §8.7: pure functions from the numbers of bptt.path.recursion and
bptt.path.powers to Plotly figures, one per step, titled and labelled in the current language.

Log axes are labelled as powers of ten (10⁻³, 10⁰, 10³), never with SI prefixes (1m, 1k), which a
reader of the book's equations would misread.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import N_, _
from .style import COLORWAY, layout

HEIGHT = 360  # px


def _layout(fig: go.Figure, uirevision: str, title: str, xlabel: str, ylabel: str, **kw) -> go.Figure:
    """bptt/charts/style.py's layout with the guided path's proportions: taller figures, a larger title,
    wider margins for the log axes' powers of ten (`margin_t`: room for subplot titles)."""
    margin = {"l": 70, "r": 20, "t": kw.pop("margin_t", 80), "b": 50}
    layout(fig, title, xlabel, ylabel, uirevision, height=kw.pop("height", HEIGHT), margin=margin, **kw)
    return fig.update_layout(title_font_size=15)


def log_axis(fig: go.Figure, values, axis: str = "y", **where) -> go.Figure:
    """A log axis labelled as powers of ten (10⁻³, 10⁰), one label every d decades so that about six
    labels show whatever the span of `values`; no labels between decades (2, 5), which a reader takes
    for values of their own."""
    v = np.abs(np.asarray(values, dtype=float)).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    decades = float(np.log10(v.max() / v.min())) if v.size else 1.0
    every = max(1, int(np.ceil(decades / 6)))
    kw = {"type": "log", "exponentformat": "power", "showexponent": "all", "dtick": every, **where}
    return fig.update_yaxes(**kw) if axis == "y" else fig.update_xaxes(**kw)


def _positive(values) -> np.ndarray:
    """|values| with zeros as nan (a log axis cannot show them)."""
    v = np.abs(np.asarray(values, dtype=float))
    return np.where(v > 0, v, np.nan)


def terms_figure(terms: np.ndarray) -> go.Figure:
    """Step 8.7.1: |term i| of (8.7.7) against how far back step i lies (T - i), on a log axis."""
    T = len(terms)
    back = T - np.arange(1, T + 1)  # T - i for i = 1..T
    fig = go.Figure(go.Bar(x=back, y=_positive(terms), name=_("|term i|"), marker_color=COLORWAY[0]))
    _layout(
        fig,
        "path-terms",
        _("The terms of (8.7.7): step i's contribution to ∂h_T/∂w_h"),
        _("steps back, T − i"),
        _("|(∏ c_j) b_i|"),
        showlegend=False,
        bargap=0.15,
        margin_t=50,
    )
    return log_axis(fig, terms)


def full_figure(t: np.ndarray, paths: dict[str, np.ndarray]) -> go.Figure:
    """Step 8.7.1.1: |∂h_t/∂w_h| computed in full against t, for w and a w changed by a little."""
    fig = go.Figure([go.Scatter(x=t, y=_positive(a), mode="lines", name=name) for name, a in paths.items()])
    _layout(
        fig, "path-full", _("The full sum (8.7.7) as the sequence grows"), _("time step t"), _("|∂h_t/∂w_h|")
    )
    return log_axis(fig, np.concatenate(list(paths.values())))


def truncation_figure(taus: np.ndarray, errors: np.ndarray, tau: int) -> go.Figure:
    """Step 8.7.1.2: relative error of the sum stopped after τ terms, against τ; the chosen τ marked."""
    fig = go.Figure(
        go.Scatter(
            x=taus, y=_positive(errors), mode="lines+markers", name=_("relative error"), marker={"size": 5}
        )
    )
    fig.add_vline(x=tau, line_dash="dot", line_color="gray")
    fig.add_annotation(
        x=tau, y=1, yref="paper", text=f"τ = {tau}", showarrow=False, xanchor="left", yanchor="top", xshift=4
    )
    _layout(
        fig,
        "path-truncation",
        _("Regular truncation: error of the sum stopped after τ terms"),
        _("τ (terms kept)"),
        _("|g_τ − g| / |g|"),
        showlegend=False,
        margin_t=50,
    )
    return log_axis(fig, errors)


def randomized_figure(mean: np.ndarray, se: np.ndarray, full: float, draws: np.ndarray) -> go.Figure:
    """Step 8.7.1.3: single draws of z_T and the running mean of N draws with ±2 standard errors,
    against the full gradient."""
    n = np.arange(1, len(mean) + 1)
    fig = go.Figure(
        [
            go.Scatter(
                x=n,
                y=draws,
                mode="markers",
                name=_("single draws z_T"),
                marker={"size": 4, "color": "rgba(90,90,90,0.45)"},
            ),
            go.Scatter(
                x=np.concatenate([n[1:], n[1:][::-1]]),
                y=np.concatenate([(mean + 2 * se)[1:], (mean - 2 * se)[1:][::-1]]),
                fill="toself",
                fillcolor="rgba(31,119,180,0.18)",
                line={"width": 0},
                name=_("±2 standard errors"),
                hoverinfo="skip",
            ),
            go.Scatter(
                x=n,
                y=mean,
                mode="lines",
                name=_("mean of the first N draws"),
                line={"color": COLORWAY[0], "width": 2},
            ),
            go.Scatter(
                x=[1, n[-1]],
                y=[full, full],
                mode="lines",
                name=_("full gradient ∂h_T/∂w_h"),
                line={"color": "black", "dash": "dash"},
            ),
        ]
    )
    lo, hi = np.nanpercentile(draws, [2, 98])
    pad = 0.15 * (hi - lo + abs(full) + 1e-12)
    fig.update_yaxes(range=[min(lo, full) - pad, max(hi, full) + pad])
    _layout(
        fig,
        "path-randomized",
        _("Randomized truncation: draws of z_T and their running mean"),
        _("number of draws N"),
        "z_T",
    )
    return log_axis(fig, [1, len(mean)], "x")


def powers_figure(k: np.ndarray, power: np.ndarray, jac: np.ndarray | None) -> go.Figure:
    """Step 8.7.2 and the playground: ‖(W_hhᵀ)^k‖₂ and, with tanh, ‖∂h_t/∂h_{t−k}‖₂ against k."""
    traces = [
        go.Scatter(
            x=k,
            y=_positive(power),
            mode="lines",
            name=_("‖(W_hhᵀ)^k‖₂ (linear, (8.7.15))"),
            line={"color": COLORWAY[0], "width": 3},
        )
    ]
    if jac is not None:
        traces.append(
            go.Scatter(
                x=k,
                y=_positive(jac),
                mode="lines",
                name=_("‖∂h_t/∂h_(t−k)‖₂ with tanh"),
                line={"color": COLORWAY[1], "width": 3, "dash": "dash"},
            )
        )
    fig = go.Figure(traces)
    fig.add_hline(y=1, line_color="gray", line_dash="dot")
    _layout(
        fig,
        "path-powers",
        _("How far back a gradient reaches: powers of W_hhᵀ"),
        _("k (steps back)"),
        _("norm"),
    )
    return log_axis(fig, np.concatenate([power, [1.0]] + ([] if jac is None else [jac])))


def alignment_figure(k: np.ndarray, cos: np.ndarray, tan_ratio: np.ndarray, bound: np.ndarray) -> go.Figure:
    """Exercise 1: |cos(M^k x, v_1)| for several random x (left), and tan of the angle relative to its
    start against the bound (|λ₂|/|λ₁|)^k (right)."""
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.12,
        subplot_titles=(_("|cos(M^k x, v₁)|, 20 random x"), _("tan θ_k / tan θ_0 and the bound")),
    )
    for i, row in enumerate(cos):
        fig.add_trace(
            go.Scatter(
                x=k,
                y=row,
                mode="lines",
                line={"color": "rgba(31,119,180,0.45)", "width": 1},
                name=_("random x"),
                showlegend=i == 0,
                legendgroup="x",
            ),
            1,
            1,
        )
    for row in tan_ratio:
        fig.add_trace(
            go.Scatter(
                x=k,
                y=_positive(row),
                mode="lines",
                showlegend=False,
                legendgroup="x",
                line={"color": "rgba(31,119,180,0.45)", "width": 1},
                name=_("random x"),
            ),
            1,
            2,
        )
    fig.add_trace(
        go.Scatter(
            x=k,
            y=_positive(bound),
            mode="lines",
            name=_("bound (|λ₂|/|λ₁|)^k"),
            line={"color": "black", "dash": "dash", "width": 2},
        ),
        1,
        2,
    )
    fig.update_yaxes(range=[0, 1.05], row=1, col=1)
    log_axis(fig, np.concatenate([tan_ratio.ravel(), bound]), row=1, col=2)
    fig.update_xaxes(title_text="k")
    fig.update_annotations(font_size=13)
    _layout(
        fig,
        "path-alignment",
        _("Exercise 1: M^k x turns towards the top eigenvector v₁"),
        "",
        "",
        margin_t=70,
    )
    # the legend under the plots: above them it would cover the subplot titles
    return fig.update_layout(legend={"y": -0.3, "yanchor": "top"}, margin_b=100)


REMEDY_NAMES = {
    "as_is": N_("W_hh as set"),
    "spectral": N_("rescaled to σ_max = 1 (spectral normalization)"),
    "orthogonal": N_("orthogonal W_hh (all singular values 1)"),
    "truncated": N_("regular truncation at k = 10"),
}


def remedies_figure(k: np.ndarray, curves: dict[str, np.ndarray]) -> go.Figure:
    """Exercise 2: ‖(W_hhᵀ)^k‖₂ as set and under three remedies."""
    styles = {
        "as_is": {"width": 3},
        "truncated": {"width": 6, "color": "rgba(44,160,44,0.5)"},
        "spectral": {"dash": "dash"},
        "orthogonal": {"dash": "dot"},
    }
    fig = go.Figure(
        [
            go.Scatter(x=k, y=_positive(v), mode="lines", name=_(REMEDY_NAMES[key]), line=styles.get(key, {}))
            for key, v in curves.items()
        ]
    )
    _layout(
        fig,
        "path-remedies",
        _("Exercise 2: what keeps the powers of W_hhᵀ in bounds"),
        _("k (steps back)"),
        _("‖(W_hhᵀ)^k‖₂"),
        height=HEIGHT + 30,
        margin_t=100,
    )
    return log_axis(fig, np.concatenate([c for c in curves.values()] + [[1.0]]))
