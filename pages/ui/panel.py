"""What the training page's live panel shows for a run: status, metrics, where the gradient is cut, the
text it writes, and one chosen view of its curves. Laid out as a fixed skeleton (see pages/ui/live.py):
the same placeholders and columns in every run, whatever the state."""

from __future__ import annotations

import math

import streamlit as st

from bptt.charts import train as charts
from bptt.hosting.runs import WORSENED_MARGIN, Run, summary, worsening
from bptt.i18n import N_, _
from bptt.segmentation import segmentation_rows
from bptt.truncation import Strategy

from .session import on_phone, registry

NUM_PREDS = 50  # characters the model writes after the prefix (the book: 50)
MAX_PREFIX = 100
VIEWS = {
    "curves": N_("Loss & perplexity"),
    "gradients": N_("Gradients"),
    "dh": N_("∂L/∂h_t and W_hh"),
    "speed": N_("Speed"),
    "runs": N_("Runs"),
}
VIEW_KEY = "ui_view"
METRIC_WIDTH = 165  # px: five metrics in a row on a desktop, two to a row on a phone (390 px)
# Plotly's mode bar cut to saving a picture and resetting the axes (drag still zooms, a double click
# resets): the full bar is wider than a phone's chart title leaves free and covered it.
PLOT_CONFIG = {"displaylogo": False, "modeBarButtons": [["toImage", "resetScale2d"]]}


def chart(slot, fig, key: str) -> None:
    slot.plotly_chart(fig, key=key, config=PLOT_CONFIG)


def view_select() -> None:
    """The panel's view: outside the fragment, so that a change redraws the page, never half a panel."""
    shown = {v: _(t) for v, t in VIEWS.items()}
    st.segmented_control(
        _("Charts"),
        list(VIEWS),
        format_func=shown.get,
        key=VIEW_KEY,
        required=True,
        label_visibility="collapsed",
    )


def shown_status(run: Run, phase: str, active_id) -> str:
    """The run's status as the page sees it: the active run of a paused session is 'paused'."""
    if run.id == active_id and phase == "paused" and not run.finished:
        return _("paused")
    return _(run.status)


def _fmt(value: float, spec: str) -> str:
    return format(value, spec) if math.isfinite(value) else "–"


def worse_text(finished: str, worse) -> str:
    """A finished run whose perplexity ended above its best (bptt.runs.worsening), in words."""
    if not math.isfinite(worse.best):
        return finished + " " + _("Its perplexity never had a finite value: the model did not learn.")
    return (
        finished
        + " "
        + _(
            "But its perplexity got worse: {final} in the last epoch against {best} in epoch {epoch}, more "
            "than {margin:.0%} above the best. The learning rate may be too high for this truncation: try "
            "a smaller one, or clipping."
        ).format(
            final=_fmt(worse.final, ".2f"),
            best=f"{worse.best:.2f}",
            epoch=worse.best_epoch,
            margin=WORSENED_MARGIN,
        )  # fmt: skip
    )


def stream_text(run: Run) -> str:
    """Why a run over the whole sequence slows down and fills memory step after step (d2l §8.7.1.1)."""
    stream = run.trainer.stream
    return _(
        "For {name}. Full computation over the whole sequence backpropagates each step's loss through every "
        "window since its stream began, so each backward pass takes longer and the graph holds more memory "
        "than the step before, growing linearly with the time steps held. The stream restarts (the state is "
        "detached, the graph freed) at each epoch's start, or before it would hold {steps:,} time steps or "
        "{mib:.0f} MiB. This is why the book calls the full computation slow; and a gradient that goes "
        "through so many steps can explode (d2l §8.7.1.1)."
    ).format(name=run.name, steps=stream.max_steps, mib=stream.max_bytes / 2**20)


def metric_row() -> list:
    """Five metric places in a row that wraps: two to a row on a phone, not five stacked."""
    with st.container(horizontal=True, gap="small"):
        return [st.empty() for _ in range(5)]


def draw() -> None:
    """The panel for the session's active run (or its latest one, or none yet)."""
    ss = st.session_state
    runs = registry().list()
    run = registry().get(ss.get("active")) or (runs[-1] if runs else None)
    # -- the skeleton: always these elements, in this order --
    status = st.empty()
    if on_phone():  # the view's charts first, so that Start and the first chart share the first screen
        message, view_caption = st.empty(), st.empty()
        left, right, wide = st.empty(), st.empty(), st.empty()
        metric = metric_row()
        strip_col, sample_col = st.container(), st.container()
    else:
        metric = metric_row()
        message = st.empty()
        strip_col, sample_col = st.columns([3, 2])
        view_caption = st.empty()
        left_col, right_col = st.columns(2)
        left, right, wide = left_col.empty(), right_col.empty(), st.empty()
    strip, caption, sample = strip_col.empty(), sample_col.empty(), sample_col.empty()

    view = ss.get(VIEW_KEY) or "curves"
    if run is None:
        status.info(_("Press **Start** to train. The charts fill in as the model learns."))
        for c, label in zip(metric, (_("Step"), _("Epoch"), _("Perplexity"), _("Tokens / s"), _("Device"))):
            c.metric(label, "–", width=METRIC_WIDTH)
        chart(left, charts.metric_chart({}, "loss"), "chart_loss")
        chart(right, charts.metric_chart({}, "perplexity"), "chart_ppl")
        return

    t = run.trainer
    df, dh, epochs = t.snapshot()
    speed = float(df["tokens_per_sec"].tail(20).median()) if len(df) else math.nan
    label = shown_status(run, ss.get("phase", "idle"), ss.get("active"))
    queued = run.id == ss.get("active") and ss.get("queue") is not None  # waiting for a slot, not training
    if queued:
        label, speed = _("waiting for a training slot"), math.nan  # no speed it does not have now
    status.progress(t.progress, text=f"{run.name}: {label}")
    metric[0].metric(_("Step"), f"{t.step_count:,}", width=METRIC_WIDTH)
    metric[1].metric(_("Epoch"), f"{t.epoch} / {run.cfg.epochs}", width=METRIC_WIDTH)
    metric[2].metric(_("Perplexity"), _fmt(t.perplexity(), ".2f"), width=METRIC_WIDTH)
    speed_help = _("not training while it waits for a slot") if queued else _("median of the last 20 steps")
    metric[3].metric(_("Tokens / s"), _fmt(speed, ",.0f"), help=speed_help, width=METRIC_WIDTH)
    metric[4].metric(_("Device"), str(t.device), width=METRIC_WIDTH)
    if run.status == "diverged":
        message.error(t.message)
    elif run.status == "finished" and (worse := worsening(epochs["perplexity"])) is not None:
        message.warning(worse_text(t.message, worse), icon=":material/trending_up:")
    elif run.status == "finished":
        message.success(t.message)

    tokens, rows = [], {}
    if t.last_window is not None:
        tokens = t.corpus.vocab.to_tokens(t.last_window["X"][0])
        rows = segmentation_rows(run.cfg, t.last_window["xi"][:, 0].numpy())
    chart(strip, charts.segmentation_strip(tokens, rows), "chart_strip")
    prefix = str(ss.get("ui_prefix", ""))[:MAX_PREFIX]
    temperature = float(ss.get("ui_temperature", 0.0))
    how = _("greedy") if temperature == 0 else _("sampled")
    caption.caption(_("What {name} writes after the prefix ({how})").format(name=run.name, how=how))
    # writes(): the text as of the latest step, never waiting for the step in flight ("…" for a second)
    sample.code(t.writes(prefix, NUM_PREDS, temperature) or "…", language=None, wrap_lines=True)

    shown = [r for r in (registry().get(i) for i in ss.get("ui_overlay", [])) if r is not None] or [run]
    curves = {r.name: (df if r is run else r.trainer.snapshot()[0]) for r in shown}
    x = ss.get("ui_xaxis", "tokens")
    if view == "curves":
        chart(left, charts.metric_chart(curves, "loss", x), "chart_loss")
        chart(right, charts.metric_chart(curves, "perplexity", x), "chart_ppl")
    elif view == "gradients":
        view_caption.caption(_("For {name}").format(name=run.name))
        theta = run.cfg.clip if run.cfg.clip > 0 else None
        chart(left, charts.grad_norm_chart(df, theta), "chart_grad")
        chart(right, charts.param_norm_chart(df), "chart_params")
    elif view == "dh":
        view_caption.caption(
            _(
                "For {name}. The heatmap is the gradient this run trains with (its truncation's estimator), "
                "not the full gradient; its colour across t is dominated by each step's own loss term, so it "
                "does not show vanishing: how far a gradient travels is in the Gradient lab."
            ).format(name=run.name)
        )
        steps = df["step"].to_numpy() if len(df) else None
        strategy = Strategy.of_config(run.cfg).title()
        chart(left, charts.dh_heatmap(dh, steps, strategy), "chart_dh")
        chart(right, charts.spectral_chart(df), "chart_spectral")
    elif view == "speed":
        if run.cfg.truncation == "stream":
            view_caption.caption(stream_text(run))
            chart(left, charts.stream_chart(df, "backward_time"), "chart_stream_time")
            chart(right, charts.stream_chart(df, "graph_bytes"), "chart_stream_bytes")
        chart(wide, charts.metric_chart(curves, "tokens_per_sec", x), "chart_speed")
    else:
        wide.dataframe(summary(runs), hide_index=True)
