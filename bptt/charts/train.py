"""Chart builders: pure functions from a run's records to a Plotly figure (no UI, no I/O).

Each function takes plain data (the trainer's per-step history as a DataFrame, numpy arrays, a schedule)
and returns a `plotly.graph_objects.Figure`, so the pages only place them and the tests read them.

Every builder follows the rules of bptt/charts/style.py (SVG, downsampled series, a uirevision,
user text escaped).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..i18n import N_, _
from ..segmentation import segment_weights
from ..truncation import survival
from .style import HEIGHT, downsample, escape, even, figure, is_empty, layout, log_axis, log_y, placeholder

MAX_ROWS = 300  # rows the ||dL/dh_t|| heatmap keeps

_METRICS = {
    "loss": N_("loss L (cross-entropy)"),
    "perplexity": N_("perplexity exp(L)"),
    "tokens_per_sec": N_("tokens / s"),
}
_AXES = {"tokens": N_("tokens seen"), "wall_time": N_("training time (s)"), "step": N_("step")}
_PARAMS = ("W_xh", "W_hh", "b_h", "W_hq", "b_q")  # d2l's names for the RNN's parameters
_VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}  # whitespace drawn as a visible glyph
_CELL_COLORS = ("#dbe9f6", "#fde3c8")  # alternating segment shades


# ---------------------------------------------------------------------------------------------------
# Training curves
# ---------------------------------------------------------------------------------------------------


def _line(x, y, name: str, mode: str = "lines", **kw) -> dict:
    """A scatter trace as a dict, for `figure` (the live panel's charts are built in one go)."""
    return {"type": "scatter", "x": x, "y": y, "mode": mode, "name": name, **kw}


def metric_chart(runs: dict[str, pd.DataFrame], y: str = "loss", x: str = "tokens") -> go.Figure:
    """One line per run of a training metric: the runs the user ticked, overlaid.

    Against tokens seen, strategies compare per unit of data; against wall time, per unit of compute:
    randomized truncation (d2l §8.7.1.3) is unbiased but its 1/pi_t weights add variance, and the book
    finds it no better than regular truncation in practice. Perplexity is drawn on a log axis."""
    if y not in _METRICS or x not in _AXES:
        raise ValueError(f"y must be one of {list(_METRICS)} and x one of {list(_AXES)} (got {y!r}, {x!r})")
    title = _("{metric} against {axis}").format(metric=_(_METRICS[y]), axis=_(_AXES[x]))
    uirev = f"metric:{y}:{x}"
    runs = {name: df for name, df in (runs or {}).items() if not is_empty(df, x, y)}
    if not runs:
        return placeholder(title, uirev)
    traces = [
        _line(df[x].to_numpy()[(idx := downsample(len(df)))], df[y].to_numpy()[idx], escape(str(name)))
        for name, df in runs.items()
    ]
    yaxis = log_axis(np.concatenate([df[y].to_numpy() for df in runs.values()])) if y == "perplexity" else {}
    return figure(traces, title, _(_AXES[x]), _(_METRICS[y]), uirev, hovermode="x unified", yaxis=yaxis)


def grad_norm_chart(df: pd.DataFrame, theta: float | None) -> go.Figure:
    """The global gradient norm ‖g‖ before and after clipping at θ (d2l §8.5.5: g <- min(1, θ/‖g‖) g).

    Spikes far above the dashed θ line are exploding gradients (Pascanu et al. 2013); the markers show
    the steps where clipping changed the update. Clipped steps are always kept when downsampling."""
    title, uirev = _("Gradient norm ‖g‖ before and after clipping"), "grad_norm"
    if is_empty(df, "step", "grad_norm", "grad_norm_clipped", "clipped"):
        return placeholder(title, uirev)
    clipped = df["clipped"].to_numpy().astype(bool)
    idx = downsample(len(df), keep=clipped)
    step, raw, after = (df[c].to_numpy()[idx] for c in ("step", "grad_norm", "grad_norm_clipped"))
    hit = clipped[idx]
    traces = [
        # The markers first, so that they lie beneath the lines: once most steps clip, markers on top
        # would hide how large ‖g‖ was before clipping. Where nothing was clipped the two lines coincide.
        _line(step[hit], raw[hit], _("clipped"), mode="markers",
              marker={"symbol": "line-ns", "size": 7, "line": {"width": 1, "color": "#e8a0a8"}}),
        _line(step, raw, _("‖g‖ before clipping"), line={"width": 1.5}),
        _line(step, after, _("‖g‖ after clipping"), line={"width": 1.5}),
    ]  # fmt: skip
    if theta is not None and math.isfinite(theta) and theta > 0:
        traces.append(_line([step[0], step[-1]], [theta, theta], f"θ = {theta:g}",
                            line={"dash": "dash", "color": "gray"}, hoverinfo="skip"))  # fmt: skip
    yaxis = log_axis(np.concatenate([raw, after, [theta or np.nan]]))
    return figure(traces, title, _("step"), "‖g‖", uirev, hovermode="x unified", yaxis=yaxis)


def param_norm_chart(df: pd.DataFrame) -> go.Figure:
    """The gradient norm of each parameter, ‖∂L/∂W‖ for W_xh, W_hh, b_h, W_hq, b_q (log scale).

    ∂L/∂W_hh is the one that sums products of W_hh^T over every lag (d2l eq. 8.7.16), so it is the first
    to explode or vanish; W_hq's gradient never goes through the recurrence. All-zero columns (a model
    without biases) are left out, as a log axis cannot draw them."""
    title, uirev = _("Gradient norm per parameter ‖∂L/∂W‖"), "param_norm"
    cols = [p for p in _PARAMS if not is_empty(df, "step", f"norm_{p}") and (df[f"norm_{p}"] > 0).any()]
    if not cols:
        return placeholder(title, uirev)
    idx = downsample(len(df))
    step = df["step"].to_numpy()[idx]
    traces = [_line(step, df[f"norm_{p}"].to_numpy()[idx], p) for p in cols]
    yaxis = log_axis(np.concatenate([df[f"norm_{p}"].to_numpy() for p in cols]))
    return figure(traces, title, _("step"), "‖∂L/∂W‖", uirev, hovermode="x unified", yaxis=yaxis)


# ---------------------------------------------------------------------------------------------------
# Where gradients vanish or explode
# ---------------------------------------------------------------------------------------------------


def dh_heatmap(dh: np.ndarray, steps: np.ndarray | None = None, strategy: str | None = None) -> go.Figure:
    """log10 ‖∂L/∂h_t‖ for each time step t in the window (across) and each training step (down), as the
    training strategy computed it: the adjoint of the estimator's (truncated or reweighted) backward
    pass, d2l eq. 8.7.15 with the recurrent edge gated by xi_t (and scaled by 1/pi_t for randomized
    truncation). It is not the full gradient: with regular k it misses the terms that cross a cut.

    It does not show vanishing either: the local term W_hq^T ∂L/∂o_t at each step dominates ‖∂L/∂h_t‖,
    so a row stays roughly flat across the window even when ∂h_t/∂h_(t−k) vanishes fast (the Gradient
    lab's travel view shows that). Rows are thinned to at most `MAX_ROWS`, evenly, keeping the latest;
    zeros are drawn at the smallest positive value so the log is defined."""
    if strategy:
        title = _("‖∂L/∂h_t‖ as {strategy} computes it").format(strategy=strategy)
    else:
        title = _("‖∂L/∂h_t‖ as the training estimator computes it")
    uirev = "dh_heatmap"
    dh = np.asarray(dh, dtype=np.float64)
    if dh.ndim != 2 or dh.size == 0:
        return placeholder(title, uirev)
    steps = np.arange(1, len(dh) + 1) if steps is None else np.asarray(steps)
    idx = even(len(dh), MAX_ROWS)  # includes the last row
    rows = np.where(np.isfinite(dh[idx]), dh[idx], np.nan)  # (rows, T)
    positive = rows[rows > 0]
    floor = positive.min() if positive.size else 1e-30
    z = np.log10(np.where(rows > 0, rows, floor))  # NaN stays NaN: a gap
    heatmap = {
        "type": "heatmap", "z": z, "x": np.arange(1, dh.shape[1] + 1), "y": steps[idx],
        "colorscale": "Viridis",
        "colorbar": {"title": {"text": "log10 ‖∂L/∂h_t‖", "side": "right"}, "thickness": 12},
        "hovertemplate": _("t = %{x}<br>step %{y}<br>log10 ‖∂L/∂h_t‖ = %{z:.2f}") + "<extra></extra>",
    }  # fmt: skip
    # What it is not, as the title's second line (Plotly's subtitle, placed under the title in the room
    # the top margin leaves; a "<br>" in the title ran into the plot).
    subtitle = {"text": _("(not the full gradient)"), "font": {"size": 12}}
    titled = {
        "text": title,
        "subtitle": subtitle,
        "x": 0.01,
        "y": 0.98,
        "yanchor": "top",
        "font": {"size": 14},
    }
    return figure([heatmap], titled, _("t (time step in the window)"), _("training step"), uirev,
                  margin={"l": 55, "r": 15, "t": 84, "b": 40}, yaxis={"autorange": "reversed"})  # fmt: skip


def spectral_chart(df: pd.DataFrame, gamma: float = 1.0) -> go.Figure:
    """σ_max(W_hh), the largest singular value of W_hh (its spectral norm), over training, against 1/γ.

    Pascanu et al. (2013), with γ a bound on |f'| (γ = 1 for tanh): σ_max < 1/γ is sufficient for the
    gradient to vanish over long lags; σ_max > 1/γ is necessary (not sufficient) for it to explode. The
    symbol is σ, not λ: a reader of d2l §8.7.2 reads λ as an eigenvalue, and |λ| ≤ σ_max."""
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be a positive number (got {gamma})")
    title, uirev = _("Largest singular value σ_max(W_hh)"), "spectral"
    d = None if is_empty(df, "step", "spectral_norm") else df.dropna(subset=["spectral_norm"])
    if d is None or d.empty:
        return placeholder(title, uirev)
    line = _line(d["step"].to_numpy(), d["spectral_norm"].to_numpy(), "σ_max(W_hh)", mode="lines+markers",
                 marker={"size": 4})  # fmt: skip
    # The dashed line at 1/γ across the x range and its note above its left end, as add_hline draws them.
    bound = {"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": 1 / gamma,
             "y1": 1 / gamma, "line": {"dash": "dash", "color": "gray"}}  # fmt: skip
    note = {
        "text": _(
            "1/γ = {inverse:g} (γ bounds |f′|; γ = 1 for tanh)<br>below it long-lag gradients must vanish,"
            "<br>above it they can explode (Pascanu et al. 2013)").format(inverse=1 / gamma),
        "xref": "x domain", "x": 0, "yref": "y", "y": 1 / gamma, "xanchor": "left", "yanchor": "bottom",
        "showarrow": False, "font": {"size": 10}, "align": "left",
    }  # fmt: skip
    return figure([line], title, _("step"), "σ_max(W_hh)", uirev, hovermode="x unified",
                  shapes=[bound], annotations=[note])  # fmt: skip


# Full computation over the whole sequence: what each step's graph costs (bptt/truncation/stream.py)
_STREAM = {
    "backward_time": (N_("Backward time per step"), N_("seconds (CPU time on a CPU)")),
    "graph_bytes": (N_("Memory the graph holds"), "MiB"),
}


def stream_chart(df: pd.DataFrame, y: str) -> go.Figure:
    """Full computation over the whole sequence (d2l §8.7.1.1): each step's backward time (the training
    thread's CPU time on a CPU, bptt/truncation/stream.py), or the MiB its graph holds (the tensors saved
    for backward and the weights' copies), against the step, with the time steps held in the hover. Both
    grow with the steps held and drop where the stream restarts."""
    title, unit = _(_STREAM[y][0]), _(_STREAM[y][1])
    uirev = f"stream:{y}"
    if is_empty(df, "step", "held_steps", y):
        return placeholder(
            title, uirev, _("Only full computation over the whole sequence keeps a graph across windows")
        )
    idx = downsample(len(df))
    scale = 2**20 if y == "graph_bytes" else 1.0
    held = _("time steps held")
    fig = go.Figure(go.Scatter(
        x=df["step"].to_numpy()[idx], y=df[y].to_numpy()[idx] / scale, mode="lines", name=title,
        customdata=df["held_steps"].to_numpy()[idx],
        hovertemplate=f"%{{x}}: %{{y:.3g}} {escape(unit)} · %{{customdata}} {escape(held)}<extra></extra>",
    ))  # fmt: skip
    return layout(fig, title, _("step"), unit, uirev, showlegend=False, yaxis={"rangemode": "tozero"})


# ---------------------------------------------------------------------------------------------------
# Randomized truncation
# ---------------------------------------------------------------------------------------------------


def schedule_preview(schedule, num_steps: int) -> go.Figure:
    """What a randomized-truncation schedule does over one window, starting right after a cut (t = 0).

    (1) π_t, the probability of *not* cutting at lag k; (2) the segment lengths it produces, with the
    mass that runs to the window's end uncut; (3) the weight 1/S(k) = 1/(π_1...π_k) the estimator gives
    a dependency across lag k, on a log axis. Constant π makes 1/S grow exponentially (a heavy variance
    price for long dependencies); ARTBP's falling hazard keeps it polynomial (Tallec & Ollivier 2017)."""
    max_lag = max(int(num_steps) - 1, 1)
    s = survival(schedule, max_lag)
    # A schedule of the position in the window (linear π_t) is previewed on that axis: its segment starts
    # at the window's start (t = 0, always a cut), so the lag k is the position t; a later segment would
    # meet other π_t, so "lag since the cut" would misread it.
    if getattr(schedule, "depends_on_position", False):
        titles = (_("π_t over the window"), _("first cut at t: P(L = t)"), _("path weight 1/S(t)"))
        x_title = _("position t in the window (a cut at t = 0)")
    else:
        titles = (_("π_t after a cut"), _("segment length P(L = k)"), _("path weight 1/S(k)"))
        x_title = _("lag k since the cut")
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.08, subplot_titles=titles)
    lag = s["lag"]
    fig.add_trace(go.Scatter(x=lag, y=s["pi"], mode="lines+markers", name="π_t", marker={"size": 4}), 1, 1)
    fig.add_trace(go.Bar(x=lag, y=s["segment_pmf"], name="P(L = k)"), 1, 2)
    fig.add_trace(go.Bar(
        x=[max_lag + 1], y=[s["survival"][-1]], name=_("≥ window"), text=[_("≥ window")],
        textposition="outside", marker_color="gray",
        hovertemplate=_("no cut in the window: %{y:.3g}") + "<extra></extra>",
    ), 1, 2)  # fmt: skip
    fig.add_trace(
        go.Scatter(x=lag, y=s["weight"], mode="lines+markers", name="1/S(k)", marker={"size": 4}), 1, 3
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(range=[0, 1.05], row=1, col=1)
    log_y(fig, s["weight"], row=1, col=3)
    fig.update_layout(
        height=HEIGHT, margin={"l": 45, "r": 15, "t": 40, "b": 40}, showlegend=False, bargap=0.1,
        uirevision=f"schedule:{schedule!r}:{num_steps}",
    )  # fmt: skip
    return fig


def _cell_hover(char: str, t: int, seg: int, length: int, xi: float, weight: float) -> str:
    return _("{char}  t = {t}<br>segment {segment}, length {length}<br>ξ_t = {xi}"
             "<br>weight to the segment start = {weight}").format(
        char=char, t=t, segment=seg + 1, length=length, xi=f"{xi:.3g}", weight=f"{weight:.3g}")  # fmt: skip


def segmentation_strip(tokens: list[str], rows: dict[str, np.ndarray]) -> go.Figure:
    """The book's three-row picture of truncation (d2l §8.7.1.4, Fig. 8.7.1), drawn from real gates.

    One row per strategy; each character of the window is a cell, consecutive segments alternate in
    shade, and a black bar marks every cut (xi_t == 0: no gradient flows from t back into h_{t-1}).
    Hovering a cell gives xi_t and the compensation weight 1/S that randomized truncation attaches to the
    dependency from t back to its segment's start (Tallec & Ollivier 2017)."""
    title, uirev = _("Where the gradient is cut in this window"), "segmentation"
    T = len(tokens)
    if T == 0 or not rows:
        return placeholder(title, uirev)
    chars = [escape(_VISIBLE.get(c, c)) for c in tokens]
    z, hover, cut_x, cut_y = [], [], [], []
    for r, xi in enumerate(rows.values()):
        xi = np.asarray(xi, dtype=np.float64).ravel()
        if len(xi) != T:
            raise ValueError(f"each row needs one gate per token: {len(xi)} gates for {T} tokens")
        seg, length, weight = segment_weights(xi)
        z.append(seg % 2)
        hover.append([_cell_hover(chars[t], t, seg[t], length[t], xi[t], weight[t]) for t in range(T)])
        for t in np.flatnonzero((xi == 0) | (np.arange(T) == 0)):  # one bar per cut, on its left edge
            cut_x += [t - 0.5, t - 0.5, None]
            cut_y += [r - 0.48, r + 0.48, None]
    traces = [
        {"type": "heatmap", "z": z, "x": np.arange(T), "y": np.arange(len(rows)), "text": [chars] * len(rows),
         "texttemplate": "%{text}", "textfont": {"size": max(6, min(12, 600 // T))}, "hovertext": hover,
         "hoverinfo": "text", "colorscale": [[0, _CELL_COLORS[0]], [1, _CELL_COLORS[1]]], "zmin": 0,
         "zmax": 1, "showscale": False, "xgap": 1},
        _line(cut_x, cut_y, _("cut"), line={"color": "black", "width": 3}, hoverinfo="skip",
              showlegend=False),
    ]  # fmt: skip
    labels = [escape(str(k)) for k in rows]
    yaxis = {
        "tickvals": list(range(len(rows))),
        "ticktext": labels,
        "autorange": "reversed",
        "showgrid": False,
    }
    return figure(traces, title, "t", "", uirev, height=90 + 40 * len(rows), hovermode="closest",
                  xaxis={"showgrid": False, "zeroline": False}, yaxis=yaxis)  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Influence balancing: where truncation is provably wrong (bptt.tasks.influence)
# ---------------------------------------------------------------------------------------------------


def theta_chart(trajectories: dict[str, np.ndarray], target: float) -> go.Figure:
    """θ during online SGD under each estimator; a line that stops has diverged (|θ| blew up)."""
    fig = go.Figure()
    for name, thetas in trajectories.items():
        idx = downsample(len(thetas))
        fig.add_trace(go.Scatter(x=idx + 1, y=np.asarray(thetas)[idx], mode="lines", name=escape(name)))
    fig.add_trace(go.Scatter(
        x=[1, max(len(t) for t in trajectories.values())], y=[target, target], mode="lines",
        name=_("optimum θ = {value}").format(value=f"{target:.3g}"), line={"dash": "dash", "color": "gray"},
        hoverinfo="skip",
    ))  # fmt: skip
    fig = layout(fig, _("θ during training"), _("step"), "θ", "theta", hovermode="x unified")
    return fig.update_yaxes(range=[-1.0, 2.0])


def truncation_sensitivity_chart(Ks: np.ndarray, curves: dict[str, np.ndarray], true: float) -> go.Figure:
    """Influence balancing's sensitivity ds¹/dθ against K for each way of truncating (named by the
    caller: sliding window, chunked), with the true value dashed: a curve on the other side of zero
    has the wrong sign."""
    from ..i18n import _

    fig = go.Figure()
    for name, values in curves.items():
        values = np.asarray(values, dtype=float)
        fig.add_trace(go.Scatter(x=Ks, y=values, mode="lines", name=escape(name)))
    fig.add_trace(go.Scatter(
        x=[Ks[0], Ks[-1]], y=[true, true], mode="lines", name=_("true = {v:g}").format(v=true),
        line={"dash": "dash", "color": "gray"}, hoverinfo="skip",
    ))  # fmt: skip
    return layout(fig, _("What BPTT truncated at K steps sees"), _("K (steps)"), "ds¹/dθ", "sensitivity2")
