"""The gradient lab's charts (d2l §8.7): pure functions from the lab's tables to Plotly figures.

They follow bptt/charts/style.py: a uirevision each, the weights' description (it can name an uploaded
file) and the strategies' labels escaped. No series needs downsampling: a lag table has at most
`lab.reports.MAX_NUM_STEPS` rows and a histogram is drawn by the browser from its draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import _
from ..truncation import Strategy
from .style import escape, layout


def lag_share_figure(table: pd.DataFrame, weights: str, exact: bool = True) -> go.Figure:
    """Each lag's share of the full-window gradient, with what each strategy keeps of it: regular k exactly,
    randomized with its mean ± sd over its gates, exact (`exact`) or over draws."""
    fig = go.Figure()
    fig.add_trace(go.Bar(x=table["lag"], y=table["share"], name=_("full gradient: share by lag")))
    for col in table.columns:
        if col.startswith("kept_") and not col.endswith("_std"):
            std = table.get(col + "_std")
            fig.add_trace(
                go.Scatter(
                    x=table["lag"],
                    y=table[col],
                    mode="lines+markers",
                    name=_("kept by {strategy}").format(strategy=escape(Strategy.title_of(col[5:])))
                    + (
                        ""
                        if std is None
                        else _(" (exact mean ± sd)")
                        if exact
                        else _(" (mean ± sd over draws)")
                    ),
                    error_y=None if std is None else {"type": "data", "array": std, "visible": True},
                )
            )
    title = _("Share of the full-window gradient of W_xh, W_hh, b_h by lag k ({weights})")
    xlabel = _("lag k = s − t (loss at step s, parameter used at step t)")
    return layout(fig, title.format(weights=escape(weights)), xlabel, _("⟨g_k, g⟩ / ‖g‖²"), "lab-share",
                  legend=LEGEND_BELOW, height=420)  # fmt: skip


def lag_norm_figure(table: pd.DataFrame, weights: str) -> go.Figure:
    """‖g_k‖ / ‖g‖ by lag on a log scale: how fast the lag terms fall."""
    fig = go.Figure(
        go.Scatter(
            x=table["lag"],
            y=table["norm_ratio"].clip(lower=1e-300),
            mode="lines+markers",
            name=_("‖g_k‖ / ‖g‖"),
        )  # fmt: skip
    )
    title = _("Size of each lag's term of the full gradient ({weights})").format(weights=escape(weights))
    fig = layout(fig, title, _("lag k"), _("‖g_k‖ / ‖g‖"), "lab-norms", yaxis_type="log")
    fig.update_yaxes(**POWERS)
    return fig


def travel_figure(travel: pd.DataFrame, weights: str) -> go.Figure:
    """‖∂h_t/∂h_{t−k}‖₂ against k with the bound (σ_max(W_hh)·max|f′|)^k, log scale."""
    rows = int(travel["rows"].iloc[0])
    fig = go.Figure()
    for col, name, dash in (
        ("log10_mean", _("mean over {rows} rows").format(rows=rows), None),
        ("log10_max", _("max over {rows} rows").format(rows=rows), "dot"),
        ("log10_bound", _("bound (σ_max(W_hh)·max|f′|)^k"), "dash"),
    ):
        fig.add_trace(go.Scatter(x=travel["lag"], y=np.power(10.0, travel[col]), name=name,
                                 mode="lines", line={"dash": dash}))  # fmt: skip
    title = _("How far a gradient travels: ‖∂h_t/∂h_(t−k)‖₂<br>from the window's last step ({weights})")
    fig = layout(fig, title.format(weights=escape(weights)), _("k (steps back)"), _("spectral norm"),
                 "lab-travel", yaxis_type="log", legend=LEGEND_BELOW, height=500)  # fmt: skip
    fig.update_yaxes(**POWERS)
    return fig


def eigenvalue_figure(eigenvalues: np.ndarray, sigma_max: float, weights: str) -> go.Figure:
    """W_hh's eigenvalues in the complex plane with the unit circle (Pascanu et al. 2013)."""
    theta = np.linspace(0, 2 * np.pi, 181)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=np.cos(theta), y=np.sin(theta), mode="lines", name=_("unit circle"),
                             line={"color": "grey"}))  # fmt: skip
    fig.add_trace(go.Scatter(x=sigma_max * np.cos(theta), y=sigma_max * np.sin(theta), mode="lines",
                             name=_("σ_max(W_hh) = {s:.3g}").format(s=sigma_max),
                             line={"dash": "dot"}))  # fmt: skip
    fig.add_trace(go.Scatter(x=eigenvalues.real, y=eigenvalues.imag, mode="markers",
                             name=_("eigenvalues of W_hh"), marker={"size": 5}))  # fmt: skip
    title = _("Eigenvalues of W_hh<br>({weights})").format(weights=escape(weights))
    return layout(fig, title, _("real part"), _("imaginary part"), "lab-eigenvalues",
                  yaxis={"scaleanchor": "x"}, legend=LEGEND_BELOW, height=500)  # fmt: skip


LABELLED_K = (1, 2, 5, 10, 20, 35, 50, 100)  # regular k's named on the plane (every k is in its hover)
LABEL_GAP = 0.06  # of the bias axis's span: "k=10" is about this wide on the lab's plane
POWERS = {"exponentformat": "power", "showexponent": "all"}  # log axes read 10⁻⁵, not 10µ


def spaced_k_labels(ks, xs, span: float, gap: float = LABEL_GAP) -> list[str]:
    """Text for each regular k on the plane's strip: "k=…" for the window's own k = T and then
    LABELLED_K in order, each only when it sits at least `gap`·span from every label already placed, so
    that no two labels overlap (k's at almost the same bias, e.g. every k past the gradient's reach,
    keep only the first)."""
    ks, xs = [int(k) for k in ks], [float(x) for x in xs]
    T = max(ks) if ks else 0
    at = dict(zip(ks, xs, strict=True))
    placed: list[float] = []
    chosen = set()
    for k in [T, *sorted(LABELLED_K)]:
        if k in at and k not in chosen and all(abs(at[k] - x) >= gap * span for x in placed):
            chosen.add(k)
            placed.append(at[k])
    return [f"k={k}" if k in chosen else "" for k in ks]


LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0}


def plane_figure(exact: pd.DataFrame | None, sweep: pd.DataFrame, weights: str) -> go.Figure:
    """The bias–variance plane on exact values (bptt/lab/moments.py): randomized over π and ARTBP over T0 on a
    log variance axis at bias exactly 0 (every path's expected weight is 1), and below it, on a strip of its
    own at variance exactly 0 (a log axis has no 0), regular k = 1..T at its exact bias; both share the bias
    axis. `exact`: the lab report's exact table (None when the window is too big for exact moments)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.78, 0.22], vertical_spacing=0.04)
    T = int(sweep["k"].max())
    top = float(sweep["bias"].max()) if len(sweep) else 1.0
    pad = 0.03 * (top if top > 0 else 1.0)  # a margin left of 0, where the unbiased estimators sit
    text = spaced_k_labels(sweep["k"], sweep["bias"], top + 2 * pad)
    fig.add_trace(go.Scatter(x=sweep["bias"], y=np.zeros(len(sweep)), mode="markers+text", text=text,
                             textposition="top center", customdata=sweep["k"],
                             hovertemplate="k=%{customdata}<br>" + _("bias") + " %{x:.4g}<extra></extra>",
                             name=_("regular k = 1…{T} (variance exactly 0)").format(T=T)),
                  row=2, col=1)  # fmt: skip
    for kind, name, where in (
        ("randomized", _("randomized, constant π"), "middle right"),
        ("artbp", _("ARTBP over T0"), "middle right"),
    ):
        if exact is None:
            break
        s = exact[exact["kind"] == kind].sort_values("value")
        s = s[s["variance"] > 0]  # a log axis has no 0 (π = 1 is full BPTT)
        if len(s):
            names = [escape(Strategy.title_of(label)) for label in s["strategy"]]
            hover = "%{text}<br>" + _("variance") + " %{y:.4g}<extra></extra>"
            fig.add_trace(go.Scatter(x=s["bias"], y=s["variance"], mode="lines+markers+text", text=names,
                                     textposition=where, name=name,
                                     hovertemplate=hover),
                          row=1, col=1)  # fmt: skip
    if exact is None:
        fig.add_annotation(text=_("This window is too large for exact moments"), showarrow=False,
                           xref="x domain", yref="y domain", x=0.5, y=0.5, row=1, col=1)  # fmt: skip
    fig.update_yaxes(type="log", dtick=1, title_text=_("relative variance E‖ĝ − E ĝ‖² / ‖g‖² (exact)"),
                     row=1, col=1, **POWERS)  # fmt: skip
    fig.update_yaxes(showticklabels=False, range=[-1, 1.5], title_text=_("var = 0"), row=2, col=1)
    xlabel = _("relative bias ‖E ĝ − g‖ / ‖g‖ (exact; randomized and ARTBP: 0 by construction)")
    fig.update_xaxes(range=[-pad, top + pad], title_text=xlabel, row=2, col=1)
    fig.update_xaxes(range=[-pad, top + pad], row=1, col=1)
    title = _("Bias–variance plane of the estimators vs the full-window gradient ({weights})")
    return layout(fig, title.format(weights=escape(weights)), "", "", "lab-plane", height=520,
                  legend=LEGEND_BELOW | {"y": -0.18})  # fmt: skip


def cos_figure(cos: dict[str, np.ndarray], weights: str) -> go.Figure:
    """Distribution of cos(ĝ, g) over the draws of each strategy."""
    fig = go.Figure()
    for label, values in cos.items():
        fig.add_trace(go.Histogram(x=values, name=escape(Strategy.title_of(label)), opacity=0.6, nbinsx=40))
    title = _("cos(ĝ, g) over the draws ({weights})").format(weights=escape(weights))
    xlabel = _("cosine between the estimate and the full-window gradient")
    return layout(fig, title, xlabel, _("draws"), "lab-cos", barmode="overlay")
