"""Chart builders: each figure is read back as data (traces, axes, values), no browser needed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from bptt.charts import style
from bptt.charts import train as charts
from bptt.segmentation import segment_weights
from bptt.truncation import ARTBPPi, ConstantPi, LinearPi, survival


def history(n: int = 50, clipped_at=(3, 10, 40), seed: int = 0) -> pd.DataFrame:
    """A synthetic per-step history with the trainer's columns."""
    rng = np.random.default_rng(seed)
    step = np.arange(1, n + 1)
    grad_norm = rng.uniform(0.1, 0.9, n)
    clipped = np.isin(step, clipped_at)
    grad_norm[clipped] = rng.uniform(2.0, 50.0, clipped.sum())
    loss = 4.0 - 2.0 * step / n + rng.normal(0, 0.01, n)
    spectral = np.full(n, np.nan)
    spectral[::10] = np.linspace(0.8, 1.3, len(spectral[::10]))
    return pd.DataFrame({
        "step": step, "epoch": step / n, "tokens": step * 32 * 35, "loss": loss, "perplexity": np.exp(loss),
        "grad_norm": grad_norm, "grad_norm_clipped": np.minimum(grad_norm, 1.0), "clipped": clipped,
        "norm_W_xh": rng.uniform(0.1, 1, n), "norm_W_hh": rng.uniform(0.1, 1, n),
        "norm_b_h": rng.uniform(0.1, 1, n), "norm_W_hq": rng.uniform(0.1, 1, n),
        "norm_b_q": rng.uniform(0.1, 1, n), "cut_fraction": np.zeros(n), "spectral_norm": spectral,
        "wall_time": step * 0.01, "tokens_per_sec": rng.uniform(1e4, 2e4, n),
    })  # fmt: skip


def check_figure(fig: go.Figure) -> dict:
    """What every figure must satisfy: a Figure, JSON-serialisable, SVG only, with a uirevision."""
    assert isinstance(fig, go.Figure)
    spec = json.loads(fig.to_json())
    assert "scattergl" not in json.dumps(spec["data"]).lower()  # the template names every type: skip it
    assert fig.layout.uirevision is not None
    return spec


def is_placeholder(fig: go.Figure) -> bool:
    return len(fig.data) == 0 and any(style.EMPTY in a.text for a in fig.layout.annotations)


# --- helpers ------------------------------------------------------------------------------------------


def test_downsample_keeps_ends_and_kept_points():
    keep = np.zeros(10_000, dtype=bool)
    keep[[7, 4321, 9998]] = True
    idx = style.downsample(10_000, keep=keep)
    assert len(idx) <= style.MAX_POINTS
    assert idx[0] == 0 and idx[-1] == 9_999
    assert {7, 4321, 9998} <= set(idx.tolist())
    assert np.all(np.diff(idx) > 0)
    assert np.array_equal(style.downsample(5), np.arange(5))


def test_downsample_thins_kept_points_when_too_many():
    idx = style.downsample(10_000, keep=np.ones(10_000, dtype=bool))
    assert len(idx) <= style.MAX_POINTS
    assert idx[0] == 0 and idx[-1] == 9_999


# --- metric_chart ---------------------------------------------------------------------------------


def test_metric_chart_one_line_per_run():
    runs = {"full": history(50, seed=1), "regular (k=10)": history(40, seed=2)}
    fig = charts.metric_chart(runs, y="loss", x="tokens")
    check_figure(fig)
    assert [t.name for t in fig.data] == ["full", "regular (k=10)"]
    for trace, df in zip(fig.data, runs.values()):
        assert trace.type == "scatter"
        np.testing.assert_allclose(trace.x, df["tokens"])
        np.testing.assert_allclose(trace.y, df["loss"])
    assert fig.layout.yaxis.type != "log"
    assert fig.layout.hovermode == "x unified"


def test_metric_chart_perplexity_log_and_wall_time():
    fig = charts.metric_chart({"a": history()}, y="perplexity", x="wall_time")
    check_figure(fig)
    assert fig.layout.yaxis.type == "log"
    np.testing.assert_allclose(fig.data[0].x, history()["wall_time"])


def test_metric_chart_downsamples_long_runs():
    df = history(5_000, clipped_at=())
    fig = charts.metric_chart({"long": df}, y="tokens_per_sec", x="step")
    check_figure(fig)
    x, y = np.asarray(fig.data[0].x), np.asarray(fig.data[0].y)
    assert len(x) <= style.MAX_POINTS
    assert x[0] == 1 and x[-1] == 5_000
    np.testing.assert_allclose(y, df.set_index("step").loc[x, "tokens_per_sec"])


def test_metric_chart_escapes_run_names():
    fig = charts.metric_chart({"<b>run</b>": history()})
    assert fig.data[0].name == "&lt;b&gt;run&lt;/b&gt;"


def test_metric_chart_empty_and_bad_args():
    for runs in ({}, {"a": history().iloc[:0]}, None):
        fig = charts.metric_chart(runs)
        check_figure(fig)
        assert is_placeholder(fig)
    with pytest.raises(ValueError):
        charts.metric_chart({"a": history()}, y="accuracy")


# --- grad_norm_chart / param_norm_chart ------------------------------------------------------------


def test_grad_norm_chart_theta_and_clipped_markers():
    df = history(50, clipped_at=(3, 10, 40))
    fig = charts.grad_norm_chart(df, theta=1.0)
    check_figure(fig)
    by_name = {t.name: t for t in fig.data}
    np.testing.assert_allclose(by_name["‖g‖ before clipping"].y, df["grad_norm"])
    np.testing.assert_allclose(by_name["‖g‖ after clipping"].y, df["grad_norm_clipped"])
    marks = by_name["clipped"]
    assert list(marks.x) == [3, 10, 40]
    np.testing.assert_allclose(marks.y, df["grad_norm"].to_numpy()[[2, 9, 39]])
    # Plotly draws traces in order: the markers first lie beneath both lines, so a run where most steps
    # clip still shows how large ‖g‖ was before clipping.
    names = [t.name for t in fig.data]
    assert names.index("clipped") < names.index("‖g‖ before clipping") < names.index("‖g‖ after clipping")
    theta_line = by_name["θ = 1"]
    assert list(theta_line.y) == [1.0, 1.0] and theta_line.line.dash == "dash"
    assert list(theta_line.x) == [1, 50]
    assert fig.layout.yaxis.type == "log"


@pytest.mark.parametrize("theta", [None, 0.0, -1.0, float("inf")])
def test_grad_norm_chart_without_theta(theta):
    fig = charts.grad_norm_chart(history(), theta=theta)
    check_figure(fig)
    assert len(fig.data) == 3
    assert not any(t.name.startswith("θ") for t in fig.data)


def test_grad_norm_chart_keeps_clipped_steps_when_downsampling():
    clipped_at = (17, 2_345, 9_999)
    df = history(10_000, clipped_at=clipped_at)
    fig = charts.grad_norm_chart(df, theta=1.0)
    check_figure(fig)
    line = next(t for t in fig.data if t.name == "‖g‖ before clipping")
    assert len(line.x) <= style.MAX_POINTS
    assert set(clipped_at) <= set(np.asarray(line.x).tolist())
    assert list(next(t for t in fig.data if t.name == "clipped").x) == list(clipped_at)
    assert line.x[0] == 1 and line.x[-1] == 10_000


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [(3.0, 40.0, [3.0, 10.0, 30.0]), (0.5, 0.9, [0.5, 0.6, 0.7, 0.8, 0.9]), (1e-12, 1.0, None),
     (1.0, 1.2, None), (0.8, 2.5, [0.8, 0.9, 1.0, 2.0])],
)  # fmt: skip
def test_log_ticks_label_every_chart_at_least_three_times(lo, hi, expected):
    ticks = style.log_ticks(lo, hi)
    if expected is None and hi / lo > 10:  # many decades: one tick a decade or fewer, at most 8
        assert 3 <= len(ticks) <= 8 and all(np.log10(t) % 1 == 0 for t in ticks), ticks
    elif expected is None:  # a span too narrow for round numbers: Plotly's own ticks
        assert ticks is None
    else:
        np.testing.assert_allclose(ticks, expected)


def test_a_log_axis_with_a_narrow_span_still_has_ticks_and_no_si_prefixes():
    # Most steps clip at θ = 1 with ‖g‖ between 1 and 4: one decade tick (1) alone would be unreadable.
    df = history(200).assign(grad_norm=np.linspace(0.9, 4.0, 200), grad_norm_clipped=1.0, clipped=True)
    axis = charts.grad_norm_chart(df, theta=1.0).layout.yaxis
    assert axis.type == "log" and len(axis.tickvals) >= 3 and axis.exponentformat == "power"


def test_param_norm_chart():
    df = history()
    fig = charts.param_norm_chart(df)
    check_figure(fig)
    assert [t.name for t in fig.data] == ["W_xh", "W_hh", "b_h", "W_hq", "b_q"]
    for t in fig.data:
        np.testing.assert_allclose(t.y, df[f"norm_{t.name}"])
    assert fig.layout.yaxis.type == "log"


def test_param_norm_chart_drops_absent_biases():
    df = history().assign(norm_b_h=0.0, norm_b_q=0.0)
    assert [t.name for t in charts.param_norm_chart(df).data] == ["W_xh", "W_hh", "W_hq"]


# --- dh_heatmap ---------------------------------------------------------------------------------------


def test_dh_heatmap_is_log10_of_input():
    rng = np.random.default_rng(0)
    dh = 10.0 ** rng.uniform(-8, 2, size=(20, 35))
    fig = charts.dh_heatmap(dh)
    check_figure(fig)
    hm = fig.data[0]
    assert hm.type == "heatmap"
    np.testing.assert_allclose(np.asarray(hm.z), np.log10(dh))
    assert list(hm.x) == list(range(1, 36))
    assert list(hm.y) == list(range(1, 21))
    assert "log10 ‖∂L/∂h_t‖" in hm.colorbar.title.text
    assert fig.layout.yaxis.autorange == "reversed"


def test_dh_heatmap_floors_zeros():
    dh = np.array([[0.0, 1e-3, 10.0], [1.0, 0.0, 100.0]])
    z = np.asarray(charts.dh_heatmap(dh).data[0].z)
    assert np.all(np.isfinite(z))
    assert z[0, 0] == pytest.approx(-3.0) and z[1, 1] == pytest.approx(-3.0)
    assert z[1, 2] == pytest.approx(2.0)


def test_dh_heatmap_downsamples_rows_keeping_the_last():
    n = 1_001
    dh = np.arange(1, n + 1, dtype=float)[:, None] * np.ones((1, 5))
    steps = np.arange(10, 10 + n)
    fig = charts.dh_heatmap(dh, steps)
    check_figure(fig)
    hm = fig.data[0]
    y, z = np.asarray(hm.y), np.asarray(hm.z)
    assert len(y) <= charts.MAX_ROWS and z.shape == (len(y), 5)
    assert y[-1] == steps[-1] and y[0] == steps[0]
    np.testing.assert_allclose(z[:, 0], np.log10(y - 9))  # each kept row is its own step's data
    assert np.all(np.diff(y) > 0)


def test_dh_heatmap_empty():
    for dh in (np.zeros((0, 0)), np.zeros((0, 35)), np.array([])):
        fig = charts.dh_heatmap(dh)
        check_figure(fig)
        assert is_placeholder(fig)


# --- spectral_chart -------------------------------------------------------------------------------------


def test_spectral_chart_drops_nan_and_draws_one_over_gamma():
    df = history(50)
    fig = charts.spectral_chart(df, gamma=0.5)
    check_figure(fig)
    measured = df.dropna(subset=["spectral_norm"])
    np.testing.assert_allclose(fig.data[0].x, measured["step"])
    np.testing.assert_allclose(fig.data[0].y, measured["spectral_norm"])
    line = fig.layout.shapes[0]
    assert line.y0 == line.y1 == pytest.approx(2.0)
    assert "Pascanu" in fig.layout.annotations[0].text and "1/γ = 2" in fig.layout.annotations[0].text
    assert fig.layout.yaxis.title.text == "σ_max(W_hh)" and "singular value" in fig.layout.title.text


def test_spectral_chart_empty():
    all_nan = history().assign(spectral_norm=np.nan)
    for df in (all_nan, history().iloc[:0]):
        fig = charts.spectral_chart(df)
        check_figure(fig)
        assert is_placeholder(fig)
    with pytest.raises(ValueError):
        charts.spectral_chart(history(), gamma=0.0)


# --- schedule_preview -------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", [ConstantPi(0.9), ARTBPPi(3, 10), LinearPi(0.9, 0.5, 35)])
def test_schedule_preview(schedule):
    num_steps = 35
    fig = charts.schedule_preview(schedule, num_steps)
    check_figure(fig)
    s = survival(schedule, num_steps - 1)
    pi, pmf, window, weight = fig.data
    np.testing.assert_allclose(pi.y, s["pi"])
    assert list(pi.x) == list(range(1, num_steps))
    np.testing.assert_allclose(pmf.y, s["segment_pmf"])
    assert window.name == "≥ window" and list(window.x) == [num_steps]
    assert window.y[0] == pytest.approx(s["survival"][num_steps - 2])
    assert sum(pmf.y) + window.y[0] == pytest.approx(1.0)  # every segment ends somewhere
    np.testing.assert_allclose(weight.y, 1 / s["survival"])
    assert fig.layout.yaxis3.type == "log" and fig.layout.yaxis.type != "log"
    assert [pi.xaxis, pmf.xaxis, weight.xaxis] == ["x", "x2", "x3"]


@pytest.mark.parametrize(
    "schedule, axis",
    [(ConstantPi(0.9), "lag k since the cut"), (ARTBPPi(3, 10), "lag k since the cut"),
     (LinearPi(0.9, 0.5, 35), "position t in the window (a cut at t = 0)")],
)  # fmt: skip
def test_schedule_preview_uses_the_axis_its_schedule_is_defined_on(schedule, axis):
    """Linear π_t is a function of the position t in the window: its preview says so on every axis and
    title; constant π and ARTBP's hazard are functions of the lag since the cut."""
    fig = charts.schedule_preview(schedule, 35)
    assert [fig.layout[f"xaxis{i}"].title.text for i in ("", "2", "3")] == [axis] * 3
    titles = [a.text for a in fig.layout.annotations]
    assert ("position" in axis) == ("π_t over the window" in titles) == ("path weight 1/S(t)" in titles)
    assert ("position" in axis) != ("π_t after a cut" in titles)


def test_schedule_preview_tiny_window():
    fig = charts.schedule_preview(ConstantPi(0.5), 1)
    check_figure(fig)
    assert len(fig.data[0].x) == 1


# --- segment_weights ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "xi, seg, length, weight",
    [
        ([0, 1, 1, 0, 2, 2], [0, 0, 0, 1, 1, 1], [3, 3, 3, 3, 3, 3], [1, 1, 1, 1, 2, 4]),
        ([0, 1, 1, 1], [0, 0, 0, 0], [4, 4, 4, 4], [1, 1, 1, 1]),  # full
        ([0, 0, 0], [0, 1, 2], [1, 1, 1], [1, 1, 1]),  # a cut at every step
        ([0, 1.25, 0, 0, 1.25, 1.25, 1.25], [0, 0, 1, 2, 2, 2, 2], [2, 2, 1, 4, 4, 4, 4],
         [1, 1.25, 1, 1, 1.25, 1.5625, 1.953125]),
        ([3, 2, 0, 4], [0, 0, 1, 1], [2, 2, 2, 2], [1, 2, 1, 4]),  # t = 0 is a cut whatever xi_0 says
    ],
)  # fmt: skip
def test_segment_weights_by_hand(xi, seg, length, weight):
    s, n, w = segment_weights(np.array(xi, dtype=float))
    assert s.tolist() == seg
    assert n.tolist() == length
    np.testing.assert_allclose(w, weight)


def test_segment_weights_empty():
    s, n, w = segment_weights(np.array([]))
    assert len(s) == len(n) == len(w) == 0


# --- segmentation_strip --------------------------------------------------------------------------------


def test_segmentation_strip_rows_cells_and_cuts():
    tokens = list("the time ma")
    T = len(tokens)
    regular = np.ones(T)
    regular[::4] = 0
    rand = np.array([0, 1.25, 1.25, 0, 1.25, 0, 0, 1.25, 1.25, 1.25, 0])
    rows = {"randomized": rand, "regular (k=4)": regular, "full": np.r_[0, np.ones(T - 1)]}
    fig = charts.segmentation_strip(tokens, rows)
    spec = check_figure(fig)
    hm, cuts = fig.data
    assert hm.type == "heatmap" and cuts.type == "scatter"
    assert list(fig.layout.yaxis.ticktext) == list(rows)
    z = np.asarray(hm.z)
    assert z.shape == (3, T)
    for r, xi in enumerate(rows.values()):
        seg, _, _ = segment_weights(xi)
        assert z[r].tolist() == (seg % 2).tolist()  # segments alternate in shade
    assert hm.text[0][3] == "␣"  # the space is visible
    # one bar per cut, at the cell's left edge: the randomized row cuts at 0, 3, 5, 6, 10
    bars = [(x, y) for x, y in zip(cuts.x, cuts.y) if x is not None]
    row0 = sorted({x for x, y in bars if abs(y) < 0.5})
    assert row0 == [-0.5, 2.5, 4.5, 5.5, 9.5]
    assert len(bars) == 2 * (5 + 3 + 1)
    # hover on the randomized row at t = 2: segment 1 of length 3, weight 1.25^2
    hover = hm.hovertext[0][2]
    assert "t = 2" in hover and "segment 1, length 3" in hover and "1.56" in hover
    assert hm.hoverinfo == "text"
    assert "heatmap" in json.dumps([t["type"] for t in spec["data"]])


def test_segmentation_strip_escapes_tokens():
    tokens = ["<script>", "a", "<b>", "&"]
    fig = charts.segmentation_strip(tokens, {"full": np.array([0, 1, 1, 1.0])})
    check_figure(fig)
    hm = fig.data[0]
    text = hm.text[0]
    assert list(text) == ["&lt;script&gt;", "a", "&lt;b&gt;", "&amp;"]
    assert "&lt;script&gt;" in hm.hovertext[0][0] and "&lt;b&gt;" in hm.hovertext[0][2]
    dumped = json.dumps(json.loads(fig.to_json())["data"])
    assert "<script>" not in dumped and "<b>" not in dumped


def test_segmentation_strip_empty_and_mismatch():
    for tokens, rows in (([], {"full": np.array([])}), (list("ab"), {})):
        fig = charts.segmentation_strip(tokens, rows)
        check_figure(fig)
        assert is_placeholder(fig)
    with pytest.raises(ValueError):
        charts.segmentation_strip(list("abc"), {"full": np.array([0.0, 1.0])})


def test_segmentation_strip_draws_a_long_window_as_two_traces():
    """At num_steps = 200 the strip stays two traces (one heatmap of cells, one line of cut bars), not
    one SVG object per cell or per cut; the shading and the bars follow the gates."""
    T = 200
    rng = np.random.default_rng(0)
    xi = np.where(rng.random(T) < 0.9, 1 / 0.9, 0.0)
    xi[0] = 0
    rows = {
        "randomized": xi,
        "regular (k=10)": np.where(np.arange(T) % 10 == 0, 0.0, 1.0),
        "full": np.r_[0.0, np.ones(T - 1)],
    }
    fig = charts.segmentation_strip([chr(97 + i % 26) for i in range(T)], rows)
    check_figure(fig)
    assert [t.type for t in fig.data] == ["heatmap", "scatter"]
    assert len(fig.layout.shapes) == 0 and len(fig.layout.annotations) == 0  # no per-cell SVG objects
    z = np.asarray(fig.data[0].z)
    assert z.shape == (3, T)
    t = np.arange(T)
    assert z[1].tolist() == ((t // 10) % 2).tolist()  # regular k=10: segments [0, 10), [10, 20), ...
    assert z[2].tolist() == [0] * T  # full: one segment
    assert z[0].tolist() == ((np.cumsum(xi == 0) - 1) % 2).tolist()
    n_cuts = int((xi == 0).sum()) + T // 10 + 1
    xs = [x for x in fig.data[1].x if x is not None]
    assert len(xs) == 2 * n_cuts  # each bar is two points and a gap


def test_dh_heatmap_says_it_is_the_estimators_gradient():
    dh = np.ones((3, 4))
    title = charts.dh_heatmap(dh, strategy="regular (k=5)").layout.title
    assert "regular (k=5)" in title.text and "not the full gradient" in title.subtitle.text
    assert "vanish" not in (title.text + title.subtitle.text).lower()
    assert "not the full gradient" in charts.dh_heatmap(dh).layout.title.subtitle.text
    # A second line as the subtitle, not a "<br>" in the title: Plotly placed such a line over the plot.
    assert "<br>" not in title.text


def lab_figures(weights: str) -> list[go.Figure]:
    """One of each Gradient lab chart, on small hand-made tables."""
    from bptt.charts import lab

    lags = np.arange(1, 6)
    kept = {"kept_randomized pi=0.9": 0.9**lags, "kept_randomized pi=0.9_std": 0.1 * lags}
    table = pd.DataFrame({"lag": lags, "share": 1 / lags, "norm_ratio": 1 / lags, **kept})
    travel = pd.DataFrame(
        {"rows": 4, "lag": lags, "log10_mean": -lags, "log10_max": -lags + 0.5, "log10_bound": 1.0 * lags}
    )
    sweep = pd.DataFrame({"k": lags, "bias": np.linspace(0.5, 0.0, 5), "variance": 0.0})
    exact = pd.DataFrame({"kind": ["randomized"], "value": [0.9], "strategy": ["randomized pi=0.9"],
                          "bias": [0.0], "variance": [0.05]})  # fmt: skip
    return [
        lab.lag_share_figure(table, weights),
        lab.lag_norm_figure(table, weights),
        lab.travel_figure(travel, weights),
        lab.eigenvalue_figure(np.array([0.5 + 0.1j, 0.5 - 0.1j]), 0.6, weights),
        lab.plane_figure(exact, sweep, weights),
        lab.cos_figure({"randomized pi=0.9": np.array([0.9, 0.95, 0.99])}, weights),
    ]


def test_lab_charts_follow_the_style_rules():
    """Every lab figure keeps its zoom (a uirevision of its own) and shows user text escaped: the weights'
    description can name an uploaded file."""
    figures = lab_figures("run #1 on <b>notes</b>.txt")
    revisions = [fig.layout.uirevision for fig in figures]
    assert None not in revisions and len(set(revisions)) == len(figures)
    for fig in figures:
        check_figure(fig)
        assert (
            "&lt;b&gt;notes&lt;/b&gt;.txt" in fig.layout.title.text
            and "<b>notes" not in fig.layout.title.text
        )
