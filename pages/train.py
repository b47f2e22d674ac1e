"""Train the book's RNN with full, regular or randomized truncation, and watch it learn (d2l §8.7).

How the live part works (see the research notes on Streamlit): every piece of training state lives in
st.session_state; the buttons only flip that state in their callbacks; a fragment with `run_every` set
while a run trains advances the trainer by a short chunk per tick and redraws; when the run ends it
reruns the whole page, which draws the fragment again without a timer.
"""

import logging
import os
import time
import uuid
from contextlib import contextmanager

import numpy as np
import streamlit as st
import torch

from bptt import charts
from bptt.config import FIELDS, PRESETS, batch_size_max, epochs_max
from bptt.data import Corpus, CorpusError, CorpusUnavailable, load_corpus
from bptt.model import resolve_device
from bptt.runs import (
    RunRegistry,
    config_diff,
    config_from_values,
    metrics_csv,
    segmentation_rows,
    settings_json,
    summary,
    widget_range,
)
from bptt.slots import TrainingSlots, shared_slots
from bptt.training import Trainer
from bptt.truncation import make_strategy
from pages import ensure_router

log = logging.getLogger("bptt_lab.train")
ss = st.session_state

TICK_SECONDS = 0.2  # run_every while training: the browser asks for the next chunk soon after a redraw
# Training per tick: long, so that most of a session's wall time trains rather than redraws (a click
# does not wait for it: the page interrupts a chunk in flight); the first chunk of a run is short, so
# the first charts come quickly after Start.
WORK_SECONDS = 1.5
FIRST_WORK_SECONDS = 0.25
# A queued session waits for a slot inside its tick, up to this long, instead of redrawing unchanged
# charts at the tick rate: those redraws (pure Python, under the GIL) slowed the sessions that train
# (tests/test_load.py, 2 cores, H=128: 3 sessions made 16 steps/s in all where 2 made 100).
QUEUE_SECONDS = 2.0
NUM_PREDS = 50  # characters the model writes after the prefix (the book: 50)
MAX_PREFIX = 100
KEEP_ON_PRESET = ("corpus", "tokenizer", "max_vocab", "device")  # a preset is the experiment, not the data
CORPUS_LABELS = {
    "time_machine": "The Time Machine (the book's)",
    "bundled": "Shakespeare (bundled, offline)",
    "upload": "Upload a .txt file",
}
LABELS = {"pi": "π", "pi_end": "π at the window's end", "alpha": "α (ARTBP)", "t0": "T0 (ARTBP)"}
SCHEDULE_LABELS = {"constant": "constant π", "artbp": "ARTBP (α, T0)", "linear": "linear π, start → end"}


# -- state and callbacks: they only change st.session_state -------------------------------------------


def tell(kind: str, message: str) -> None:
    """Queue a message ('error' or 'info') for the next full run of the page to show once."""
    ss["messages"] = [*ss.get("messages", []), (kind, message)]


@contextmanager
def guarded(what: str):
    """No traceback ever reaches a visitor: log it on the server and queue a short error for the page."""
    try:
        yield
    except CorpusError as e:
        tell("error", e.message)
    except Exception:
        log.exception("%s failed", what)
        tell("error", f"{what} failed. The details are in the server log.")


@st.cache_resource
def configure_torch() -> int:
    """Once per process: torch's threads are process-wide, so each training slot gets cores / slots of
    them and two sessions on two cores never fight over one core."""
    threads = max(1, (os.cpu_count() or 1) // shared_slots().capacity)
    torch.set_num_threads(threads)
    return threads


def training_slots() -> TrainingSlots:
    """At most BPTT_MAX_TRAINING sessions (default 2) train at once; the others queue and take turns."""
    configure_torch()
    return shared_slots()


def session_id() -> str:
    return ss.setdefault("session_id", uuid.uuid4().hex)


def release_slot() -> None:
    training_slots().release(session_id())


def registry() -> RunRegistry:
    return ss.setdefault("registry", RunRegistry())


def widget_config():
    """The settings the widgets hold now, as a valid RunConfig (values brought within bounds)."""
    return config_from_values({name: ss.get(f"cfg_{name}") for name in FIELDS})[0]


def apply_preset() -> None:
    with guarded("Loading the preset"):
        preset = PRESETS[ss["ui_preset"]].to_dict()
        kept = {k: ss[f"cfg_{k}"] for k in KEEP_ON_PRESET if f"cfg_{k}" in ss}
        values = config_from_values({**preset, **kept})[0].to_dict()
        for name, value in values.items():
            ss[f"cfg_{name}"] = value


def on_start() -> None:
    with guarded("Starting the run"):
        cfg = widget_config()
        corpus, _ = current_corpus(cfg)
        if corpus is None:
            tell("error", "No training text is loaded yet.")
            return
        trainer = Trainer(cfg, corpus)  # CorpusError('too_short') when one minibatch does not fit
        previous = registry().get(ss.get("active"))
        if previous is not None and not previous.finished:
            previous.stopped = True  # one run trains at a time
        run, dropped = registry().add(cfg, trainer)
        ss["active"], ss["phase"], ss["ui_manage_run"] = run.id, "running", run.id
        ss["ui_overlay"] = [i for i in ss.get("ui_overlay", []) if i in registry()] + [run.id]
        if dropped:
            tell("info", f"Dropped {dropped[0].name}: a session keeps {registry().cap} runs.")


def set_phase(phase: str) -> None:
    with guarded(f"Setting {phase}"):
        ss["phase"] = phase
        if phase != "running":
            release_slot()


def on_stop() -> None:
    with guarded("Stopping"):
        run = registry().get(ss.get("active"))
        if run is not None:
            run.stopped = True
        ss["phase"] = "idle"
        release_slot()


def on_reset() -> None:
    with guarded("Reset"):
        registry().clear()
        ss["active"], ss["phase"], ss["ui_overlay"] = None, "idle", []
        release_slot()


def on_remove() -> None:
    with guarded("Removing the run"):
        run_id = ss.get("ui_manage_run")
        registry().remove(run_id)
        if run_id == ss.get("active"):
            ss["active"], ss["phase"] = None, "idle"
            release_slot()
        ss["ui_overlay"] = [i for i in ss.get("ui_overlay", []) if i in registry()]


# -- the corpus --------------------------------------------------------------------------------------


@st.cache_resource(max_entries=6, ttl=3600, show_spinner="Loading the corpus…")
def builtin_corpus(name: str, tokenizer: str, max_tokens: int, max_vocab: int | None) -> Corpus:
    """The Time Machine or the bundled Shakespeare: read-only, shared by every session. The ttl lets a
    failed download of The Time Machine (served by the bundled fallback) be retried later."""
    return load_corpus(name, tokenizer=tokenizer, max_tokens=max_tokens, max_vocab=max_vocab)


def current_corpus(cfg) -> tuple[Corpus | None, str | None]:
    """The corpus for these settings and the error of loading it, if any. The corpus is loaded when the
    settings change; a load that fails (a bad upload) is remembered, and the corpus loaded before stays
    in use."""
    upload = ss.get("upload_file") if cfg.corpus == "upload" else None
    max_vocab = cfg.max_vocab if cfg.tokenizer == "chars" else None
    key = (cfg.corpus, cfg.tokenizer, cfg.max_tokens, max_vocab, upload.file_id if upload else None)
    kept_key, kept = ss.get("corpus", (None, None))
    failed_key, error = ss.get("corpus_failed", (None, None))
    if key == failed_key:
        return kept, error
    if key == kept_key or (cfg.corpus == "upload" and upload is None):
        return kept, None
    try:
        if cfg.corpus == "upload":
            opts = {"tokenizer": cfg.tokenizer, "max_tokens": cfg.max_tokens, "max_vocab": max_vocab}
            corpus = load_corpus("upload", upload=(upload.name, upload.getvalue()), **opts)
        else:
            corpus = builtin_corpus(cfg.corpus, cfg.tokenizer, cfg.max_tokens, max_vocab)
    except (CorpusError, CorpusUnavailable) as e:
        ss["corpus_failed"] = (key, getattr(e, "message", str(e)))
        return kept, ss["corpus_failed"][1]
    ss["corpus"], ss["corpus_failed"] = (key, corpus), (None, None)
    return corpus, None


def describe_device(device) -> str:
    dev = resolve_device(device)
    return f"cuda ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else str(dev)


# -- widgets: every bound comes from bptt.config.FIELDS -----------------------------------------------


def number(name: str, *, slider: bool = False, hi=None, **kw):
    f, (lo, top) = FIELDS[name], widget_range(name)
    widget = st.slider if slider else st.number_input
    return widget(
        LABELS.get(name, f.label),
        min_value=lo,
        max_value=top if hi is None else hi,
        help=f.help,
        key=f"cfg_{name}",
        **kw,
    )


def choice(name: str, labels: dict[str, str] | None = None, *, radio: bool = False, **kw):
    f = FIELDS[name]
    widget = st.radio if radio else st.selectbox
    return widget(
        LABELS.get(name, f.label),
        f.choices,
        format_func=lambda c: (labels or {}).get(c, c),
        help=f.help,
        key=f"cfg_{name}",
        **kw,
    )


# -- the live panel -----------------------------------------------------------------------------------


def tick() -> bool:
    """Advance the active run by one chunk when this session holds a training slot; True when the page
    must rerun (the run just ended)."""
    ss["queue"] = None
    if ss.get("phase") != "running":
        return False
    run = registry().get(ss.get("active"))
    if run is not None and not run.finished:
        ticket = training_slots().request(session_id())
        deadline = time.monotonic() + QUEUE_SECONDS
        while not ticket.granted and time.monotonic() < deadline:
            time.sleep(0.1)  # sleeping releases the GIL: the sessions that hold a slot train meanwhile
            ticket = training_slots().request(session_id())
        if ticket.granted:
            run.trainer.run_for(FIRST_WORK_SECONDS if run.trainer.step_count == 0 else WORK_SECONDS)
        else:
            ss["queue"] = ticket
    if run is None or run.finished:
        ss["phase"] = "idle"
        release_slot()
        return True
    return False


def shown_status(run) -> str:
    """The run's status as the page sees it: the active run of a paused session is 'paused'."""
    if run.id == ss.get("active") and ss.get("phase") == "paused" and not run.finished:
        return "paused"
    return run.status


def draw() -> None:
    runs = registry().list()
    run = registry().get(ss.get("active")) or (runs[-1] if runs else None)
    if run is None:
        st.info("Press **Start** to train. The charts fill in as the model learns.")
        left, right = st.columns(2)  # empty charts: the page's layout, and Plotly loaded before Start
        left.plotly_chart(charts.metric_chart({}, "loss"), key="chart_loss")
        right.plotly_chart(charts.metric_chart({}, "perplexity"), key="chart_ppl")
        return
    t = run.trainer
    df, dh, _ = t.snapshot()
    ppl = t.perplexity()
    speed = df["tokens_per_sec"].tail(20).median() if len(df) else float("nan")
    st.progress(t.progress, text=f"{run.name}: {shown_status(run)}")
    if ss.get("queue") is not None:
        q = ss["queue"]
        st.info(
            f"Waiting for a free training slot: this server trains {q.training} sessions at a time. "
            f"You are number {q.position} of {q.waiting} in the queue; runs take turns every few seconds."
        )
    m = st.columns(5)
    m[0].metric("Step", f"{t.step_count:,}")
    m[1].metric("Epoch", f"{t.epoch} / {run.cfg.epochs}")
    m[2].metric("Perplexity", f"{ppl:.2f}" if np.isfinite(ppl) else "–")
    m[3].metric(
        "Tokens / s", f"{speed:,.0f}" if np.isfinite(speed) else "–", help="median of the last 20 steps"
    )
    m[4].metric("Device", str(t.device))
    if run.status == "diverged":
        st.error(t.message)
    elif run.status == "finished":
        st.success(t.message)

    strip, sample = st.columns([3, 2])
    with strip:
        tokens, rows = [], {}
        if t.last_window is not None:
            tokens = t.corpus.vocab.to_tokens(t.last_window["X"][0])
            rows = segmentation_rows(run.cfg, t.last_window["xi"][:, 0].numpy())
        st.plotly_chart(charts.segmentation_strip(tokens, rows), key="chart_strip")
    with sample:
        prefix = str(ss.get("ui_prefix", ""))[:MAX_PREFIX]
        temperature = float(ss.get("ui_temperature", 0.0))
        st.caption(f"What {run.name} writes after the prefix ({'greedy' if temperature == 0 else 'sampled'})")
        st.code(t.predict(prefix, NUM_PREDS, temperature), language=None, wrap_lines=True)

    shown = [r for r in (registry().get(i) for i in ss.get("ui_overlay", [])) if r is not None] or [run]
    curves = {r.name: (df if r is run else r.trainer.snapshot()[0]) for r in shown}
    x = ss.get("ui_xaxis", "tokens")
    tabs = st.tabs(
        ["Loss & perplexity", "Gradients", "∂L/∂h_t and W_hh", "Speed", "Runs"],
        key="ui_tab",
        on_change="rerun",
    )
    lazy = all(tab.open is None for tab in tabs)  # without state tracking, draw every tab
    if lazy or tabs[0].open:
        with tabs[0]:
            left, right = st.columns(2)
            left.plotly_chart(charts.metric_chart(curves, "loss", x), key="chart_loss")
            right.plotly_chart(charts.metric_chart(curves, "perplexity", x), key="chart_ppl")
    if lazy or tabs[1].open:
        with tabs[1]:
            st.caption(f"For {run.name}")
            left, right = st.columns(2)
            theta = run.cfg.clip if run.cfg.clip > 0 else None
            left.plotly_chart(charts.grad_norm_chart(df, theta), key="chart_grad")
            right.plotly_chart(charts.param_norm_chart(df), key="chart_params")
    if lazy or tabs[2].open:
        with tabs[2]:
            st.caption(f"For {run.name}")
            left, right = st.columns(2)
            left.plotly_chart(
                charts.dh_heatmap(dh, df["step"].to_numpy() if len(df) else None), key="chart_dh"
            )
            right.plotly_chart(charts.spectral_chart(df), key="chart_spectral")
    if lazy or tabs[3].open:
        with tabs[3]:
            st.plotly_chart(charts.metric_chart(curves, "tokens_per_sec", x), key="chart_speed")
    if lazy or tabs[4].open:
        with tabs[4]:
            st.dataframe(summary(runs), hide_index=True)


@st.fragment(run_every=TICK_SECONDS if ss.get("phase") == "running" else None)
def live_panel() -> None:
    rerun, first_chunk = False, False
    try:
        # Draw first, then train: the elements are re-sent at once and stay fresh while the chunk runs.
        # Training first left every element of the panel marked stale for the whole chunk (1.5 s of
        # every ~1.8 s); the charts show the previous chunk's state, one tick behind.
        draw()
        run = registry().get(ss.get("active"))
        fresh = run is not None and run.trainer.step_count == 0
        rerun = tick()
        first_chunk = fresh and run.trainer.step_count > 0
    except Exception:
        log.exception("the live panel failed")
        if ss.get("phase") == "running":
            ss["phase"], rerun = "paused", True
            tell("error", "Training hit an error and was paused. Details are in the server log.")
        else:
            st.error("The charts could not be drawn. Details are in the server log.")
    if rerun:
        st.rerun()  # scope="app": the page is drawn again, and run_every is None now
    elif first_chunk:
        # Show the run's first (short) chunk now, not one tick later. The first chunk runs inside the
        # full rerun that Start caused, where only an app-scoped rerun is allowed; it happens once a run.
        st.rerun()


# -- the page ----------------------------------------------------------------------------------------

ensure_router()

# A click or a changed setting starts this full run while the previous run's fragment may still be in
# the middle of a training chunk (fast reruns): ask it to stop after its current step, so the click is
# answered now rather than after the chunk.
if (in_flight := registry().get(ss.get("active"))) is not None:
    in_flight.trainer.interrupt()

if "settings_ready" not in ss:  # first load of the session: the settings come from the link
    cfg0, ss["url_notes"] = config_from_values(st.query_params.to_dict())
    for name, value in cfg0.to_dict().items():
        ss[f"cfg_{name}"] = value
    for key, value in {
        "ui_preset": "The book's experiment",
        "ui_xaxis": "tokens",
        "ui_overlay": [],
        "ui_prefix": "time traveller",
        "ui_temperature": 0.0,
        "phase": "idle",
    }.items():
        ss.setdefault(key, value)
    ss["settings_ready"] = True

cfg, fit_notes = config_from_values({name: ss.get(f"cfg_{name}") for name in FIELDS})
for name, value in cfg.to_dict().items():
    if ss.get(f"cfg_{name}") != value:
        ss[f"cfg_{name}"] = value  # before the widgets exist, so they show the fitted value
for note in fit_notes:
    st.toast(note)

st.title("Train an RNN with BPTT")
for kind, message in ss.pop("messages", []):
    (st.error if kind == "error" else st.info)(message)
if ss.get("url_notes") and not registry():
    st.info("Some settings in the link were adjusted to what this app allows:")
    st.text("\n".join(ss["url_notes"]))

with st.sidebar:
    st.selectbox(
        "Preset",
        list(PRESETS),
        key="ui_preset",
        on_change=apply_preset,
        help="Sets the model and training settings; the text and the device stay.",
    )
    st.subheader("Text")
    choice("corpus", CORPUS_LABELS)
    if cfg.corpus == "upload":
        st.file_uploader("Your text (.txt, UTF-8, at most 2 MB)", type=["txt"], key="upload_file")
    corpus, corpus_error = current_corpus(cfg)
    if cfg.corpus == "upload" and ss.get("upload_file") is None:
        st.info("Choose a .txt file. Until then the text loaded before stays in use.")
    choice(
        "tokenizer",
        {"letters": "letters (the book)", "chars": "every character"},
        radio=True,
        horizontal=True,
    )
    number("max_vocab", step=10, disabled=cfg.tokenizer != "chars")
    number("max_tokens", step=1_000)
    if corpus is not None:
        st.text(f"In use: {corpus.name}\n{len(corpus):,} tokens, vocabulary of {len(corpus.vocab)}")
        with st.expander("Excerpt"):
            st.code("".join(corpus.vocab.to_tokens(corpus.corpus[:300])), language=None, wrap_lines=True)
    st.subheader("Model")
    number("num_steps", slider=True)
    number("batch_size", slider=True, hi=batch_size_max(cfg.num_steps))
    number("num_hiddens", slider=True, step=4)
    st.subheader("Training")
    choice("sampler", radio=True, horizontal=True)
    choice("optimizer", radio=True, horizontal=True)
    number("lr", step=0.1, format="%g")
    number("clip", step=0.5, format="%g")
    number("epochs", step=10, hi=epochs_max(cfg.max_tokens))
    number("seed", step=1)
    choice("device")
    st.caption(f"Trains on: {describe_device(cfg.device)}")

if corpus_error:
    st.error(corpus_error)
    if corpus is not None:
        st.text(f"Still using: {corpus.name}")
if corpus is not None and corpus.notice:
    st.warning(corpus.notice)

with st.container(border=True):
    left, right = st.columns([2, 3], gap="medium")
    with left:
        st.markdown("**Truncation** (d2l §8.7.1)")
        choice("truncation", radio=True, horizontal=True)
        if cfg.truncation == "regular":
            number("k", slider=True)
        elif cfg.truncation == "randomized":
            choice("schedule", SCHEDULE_LABELS)
            if cfg.schedule == "constant":
                number("pi", slider=True, step=0.01)
            elif cfg.schedule == "artbp":
                number("alpha", slider=True, step=0.01)
                number("t0", step=1.0, format="%g")
            else:
                number("pi", slider=True, step=0.01)
                number("pi_end", slider=True, step=0.01)
    with right:
        if cfg.truncation == "randomized":
            st.plotly_chart(
                charts.schedule_preview(make_strategy(cfg).schedule, cfg.num_steps), key="chart_schedule"
            )
        elif cfg.truncation == "regular":
            st.markdown(
                f"The gradient stops every **k = {cfg.k}** steps, counted from the window's start; the "
                f"window itself (num_steps = {cfg.num_steps}) is cut from the one before it, so "
                "k ≥ num_steps is the book's experiment."
            )
        else:
            st.markdown(
                "The gradient flows back through the whole window (num_steps = "
                f"{cfg.num_steps}); only the window's start is cut, by the detach between minibatches."
            )

phase, active = ss.get("phase", "idle"), registry().get(ss.get("active"))
with st.container(horizontal=True, vertical_alignment="center"):
    st.button(
        "Start",
        key="btn_start",
        type="primary",
        on_click=on_start,
        disabled=phase == "running" or corpus is None,
    )
    st.button("Pause", key="btn_pause", on_click=set_phase, args=("paused",), disabled=phase != "running")
    st.button(
        "Resume",
        key="btn_resume",
        on_click=set_phase,
        args=("running",),
        disabled=phase != "paused" or active is None or active.finished,
    )
    st.button("Stop", key="btn_stop", on_click=on_stop, disabled=phase == "idle")
    st.button(
        "Reset",
        key="btn_reset",
        on_click=on_reset,
        disabled=not registry(),
        help="Stop and forget every run of this session (the settings stay)",
    )
if active is not None and phase != "idle" and (changes := config_diff(active.cfg, cfg)):
    st.info("Changes apply to the next run (press Start): " + ", ".join(changes))

ss["ui_overlay"] = [i for i in ss.get("ui_overlay", []) if i in registry()]
run_names = {r.id: r.name for r in registry().list()}  # a format_func must not read session state


def run_name(run_id) -> str:
    """A run's name for the widgets. Total: Streamlit serializes the value the browser last sent with
    this function, and after Reset or Remove that value can still hold a name no run has any more;
    None would make the serializer raise ('bad argument type for built-in operation')."""
    return run_names.get(run_id, str(run_id))


with st.container(horizontal=True):
    st.multiselect(
        "Runs on the curves",
        registry().ids(),
        format_func=run_name,
        key="ui_overlay",
        width="stretch",
        placeholder="the active run",
    )
    st.radio(
        "x axis",
        ["tokens", "wall_time"],
        format_func={"tokens": "tokens", "wall_time": "wall time"}.get,
        key="ui_xaxis",
        horizontal=True,
        width=180,
    )
    st.text_input("Prefix", key="ui_prefix", max_chars=MAX_PREFIX, width=220)
    st.slider(
        "Temperature",
        0.0,
        2.0,
        step=0.1,
        key="ui_temperature",
        width=170,
        help="0 is greedy, as the book; higher samples more freely",
    )

live_panel()

if registry():
    with st.expander("Export or remove a run"):
        if ss.get("ui_manage_run") not in registry():
            ss["ui_manage_run"] = ss.get("active") if ss.get("active") in registry() else registry().ids()[-1]
        chosen = registry().get(
            st.selectbox("Run", registry().ids(), format_func=run_name, key="ui_manage_run")
        )
        with st.container(horizontal=True):
            st.download_button(
                "Metrics (CSV)",
                data=lambda r=chosen: metrics_csv(r.trainer),
                on_click="ignore",
                file_name=f"bptt-run-{chosen.id}.csv",
                mime="text/csv",
                key="btn_csv",
            )
            st.download_button(
                "Settings (JSON)",
                data=lambda r=chosen: settings_json(r),
                on_click="ignore",
                file_name=f"bptt-run-{chosen.id}.json",
                mime="application/json",
                key="btn_json",
            )
            st.button("Remove", key="btn_remove", on_click=on_remove)

query = cfg.to_query()
if st.query_params.to_dict() != query:
    st.query_params.from_dict(query)  # the address bar always holds the settings: a link reproduces them
