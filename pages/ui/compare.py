"""The Compare page's pieces: the shipped results, the live comparison as a lane of pages/ui/live.py, the
settings of a live rerun (bounded for a public host), the results panel and the exports."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from bptt.charts.compare import comparison_chart
from bptt.compare.results import RESULTS_DIR, curves_csv, load_shipped, results, results_json
from bptt.compare.runner import Comparison, Spec, metric_title
from bptt.compare.stats import summary, verdict
from bptt.config import ConfigError, RunConfig
from bptt.corpora import corpus_title
from bptt.i18n import N_, _
from bptt.truncation import Strategy

from .corpus import builtin_corpus
from .live import Lane
from .session import guarded, tell

TASKS = {
    "time_machine": N_("The Time Machine (the book's setting)"),
    "synthetic": N_("Synthetic long dependency (delayed recall, d = 8)"),
}
# The strategies offered per task (any other in the same syntax can be typed in).
OPTIONS = {
    "time_machine": [
        "full",
        "regular:10",
        "regular:5",
        "randomized:0.9",
        "randomized:0.5",
        "linear:0.9:0.5",
        "artbp:3:10",
    ],  # fmt: skip
    "synthetic": [
        "full",
        "regular:4",
        "regular:6",
        "regular:7",
        "regular:8",
        "randomized:0.9",
        "randomized:0.5",
        "linear:0.9:0.5",
        "artbp:3:10",
    ],  # fmt: skip
}
DEFAULTS = {
    "time_machine": {"strategies": ["full", "regular:5", "randomized:0.9"], "epochs": 20, "H": 64},
    "synthetic": {"strategies": ["full", "regular:4"], "epochs": 120, "H": 32},
}
MAX_LIVE_RUNS = 12  # strategies x seeds on a public host
MAX_EPOCHS = 200
MAX_SECONDS = 60
HIDDENS = [16, 32, 64, 128]
# Controls "ui_cmp_run_<n>", phase "cmp_phase"; the n-th live comparison is shown or not by the Show
# choice "ui_cmp_show_<n>" (pages/compare.py), which starts at "live" when the n-th comparison begins.
LANE = Lane(name="cmp", prefix="ui_cmp_run_", phase_key="cmp_phase", queue_key="cmp_queue")


@st.cache_resource(show_spinner=False)
def shipped(task: str) -> dict[str, Any]:
    """A shipped results file (read-only, shared by every session)."""
    return load_shipped(task)


def shipped_bytes(task: str, suffix: str) -> bytes:
    return (RESULTS_DIR / f"{task}{suffix}").read_bytes()


class LiveComparison:
    """A Comparison as the training workers train it (bptt/hosting/workers.py): `advance(seconds)`, `finished`
    once every run is done or Stop was pressed."""

    def __init__(self, comparison: Comparison, notice: str | None = None, wish: str | None = None) -> None:
        self.comparison, self.notice = comparison, notice
        self.wish = wish  # the id of the click that asked for it (pages/ui/three.py), if any
        self.stopped = False

    def run_for(self, seconds: float) -> list:
        return self.comparison.run_for(seconds)

    def interrupt(self) -> None:
        self.comparison.interrupt()

    @property
    def finished(self) -> bool:
        return self.stopped or self.comparison.done


def live() -> LiveComparison | None:
    return LANE.job()


def live_spec(task: str) -> Spec:
    """The Spec of the live settings (raises ConfigError or ValueError with a message for a bad one)."""
    ss = st.session_state
    strategies = tuple(dict.fromkeys(Strategy.parse(s).key for s in ss.get(f"ui_cmp_strategies_{task}", [])))
    seeds = tuple(range(int(ss.get("ui_cmp_seeds", 2))))
    if len(strategies) * len(seeds) > MAX_LIVE_RUNS:
        raise ConfigError(_("At most {n} runs (strategies × seeds) on this server.").format(n=MAX_LIVE_RUNS))
    base = shipped(task)["spec"]["base"]
    budget = ss.get("ui_cmp_budget", "epochs")
    # Equal time: each run's seconds end it; the epochs are only a ceiling.
    epochs = int(ss.get(f"ui_cmp_epochs_{task}", DEFAULTS[task]["epochs"])) if budget == "epochs" else 2_000
    hiddens = int(ss.get(f"ui_cmp_H_{task}", DEFAULTS[task]["H"]))
    cfg = RunConfig(**{**base, "num_hiddens": hiddens, "epochs": epochs})
    return Spec(
        base=cfg,
        strategies=strategies,
        seeds=seeds,
        task="synthetic" if task == "synthetic" else "text",
        d=shipped(task)["spec"]["d"],
        budget=budget,
        seconds=float(ss.get("ui_cmp_seconds", 10)),
    )


def create(task: str) -> LiveComparison | None:
    """A live comparison from the sidebar's settings (the controls asked for one), or None after saying
    why."""
    with guarded(_("Starting the comparison")):
        try:
            spec = live_spec(task)
        except (ConfigError, ValueError) as e:
            tell("error", str(e))
            return None
        corpus = notice = None
        if spec.task == "text":
            b = spec.base
            corpus = builtin_corpus(b.corpus, b.tokenizer, b.max_tokens, None)
            notice = corpus.notice
        return LiveComparison(Comparison(spec, corpus), notice)
    return None


def settings(task: str) -> None:
    """The live rerun's settings, in the sidebar."""
    ss = st.session_state
    d = DEFAULTS[task]
    ss.setdefault(f"ui_cmp_strategies_{task}", d["strategies"])
    ss.setdefault(f"ui_cmp_epochs_{task}", d["epochs"])
    ss.setdefault(f"ui_cmp_H_{task}", d["H"])
    st.multiselect(
        _("Strategies"),
        OPTIONS[task],
        key=f"ui_cmp_strategies_{task}",
        accept_new_options=True,
        format_func=Strategy.title_of,
        help=_(
            "Type another as `full`, `regular:K`, `randomized:PI`, `linear:PI:PI_END` or `artbp:ALPHA:T0`"
        ),
    )
    st.slider(_("Seeds"), 1, 3, key="ui_cmp_seeds", help=_("Seeds 0, 1, …: the same data and initial "
                                                          "weights for every strategy"))  # fmt: skip
    st.radio(_("Budget"), ["epochs", "seconds"], key="ui_cmp_budget", horizontal=True,
             format_func={"epochs": _("epochs"), "seconds": _("equal time")}.get,
             help=_("Equal time: every run trains the same seconds, so a slower strategy makes fewer "
                    "updates (the trade-off of d2l §8.7.1.4)"))  # fmt: skip
    if ss.get("ui_cmp_budget") == "seconds":
        st.slider(_("Seconds per run"), 1, MAX_SECONDS, key="ui_cmp_seconds")
    else:
        st.slider(_("Epochs"), 1, MAX_EPOCHS, key=f"ui_cmp_epochs_{task}")
    st.select_slider(_("Hidden units H"), HIDDENS, key=f"ui_cmp_H_{task}")
    base = shipped(task)["spec"]["base"]
    st.caption(
        _(
            "Otherwise the shipped settings: {optimizer}, lr {lr}, clip {clip}, num_steps {T}, batch {B}, "
            "{tokens:,} tokens. At most {n} runs."
        ).format(
            optimizer=base["optimizer"],
            lr=base["lr"],
            clip=base["clip"],
            T=base["num_steps"],
            B=base["batch_size"],
            tokens=base["max_tokens"],
            n=MAX_LIVE_RUNS,
        )  # fmt: skip
    )


def provenance(data: dict[str, Any]) -> str:
    """Where a shipped file came from: the machine, the date, the settings."""
    m, spec = data["machine"], data["spec"]
    b = spec["base"]
    text = _(
        "Shipped results, computed with `python -m bptt compare` (version {version}) on {date}: "
        "{platform}, {cores} cores, PyTorch {torch} with {threads} thread(s). Corpus: {corpus}; "
        "H = {H}, num_steps = {T}, batch {B}, {optimizer} lr {lr}, clip {clip}, {epochs} epochs; "
        "seeds {seeds}. "
        "Its times were measured one run at a time on a shared, loaded machine: the wall-time axis shows "
        "how these runs went there, not how fast a strategy is, and the table shows no speed."
    ).format(version=data["version"], date=m["date"][:10], platform=f"`{m['platform']}`", cores=m["cores"],
             torch=m["torch"], threads=m["torch_threads"], corpus=corpus_title(data["corpus"]),
             H=b["num_hiddens"], T=b["num_steps"], B=b["batch_size"], optimizer=b["optimizer"], lr=b["lr"],
             clip=b["clip"], epochs=b["epochs"], seeds=", ".join(map(str, spec["seeds"])))  # fmt: skip
    if data.get("note"):
        text += " " + _("Note in the file: {note}").format(note=data["note"])
    return text


def headers(metric: str) -> dict[str, str]:
    """The table's columns as shown, in the reader's language, keyed by bptt.compare.summary's stable keys
    (the JSON and CSV keep those). No speed column: tokens/s measured one run at a time on a shared,
    loaded machine describe that machine's load as much as the strategy, and a table row would read them
    as the strategy's property; the files keep them, the wall-time axis shows how each run went."""
    name = metric_title(metric)
    return {
        "strategy": _("strategy"),
        "n": _("seeds"),
        "mean": _("final {name}, mean").format(name=name),
        "sd": _("± sd"),
        "diverged": _("diverged"),
        "clipped_fraction": _("clipped fraction"),
    }


def table(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The summary as shown: strategies and headers in the reader's language (pandas rename at display;
    the data keeps the stable keys)."""
    shown = headers(metric)
    if runs.empty:
        return pd.DataFrame(columns=list(shown.values()))
    out = summary(runs, metric)
    out = out.assign(strategy=[Strategy.title_of(s) for s in out["strategy"]])
    return out[list(shown)].rename(columns=shown)


def column_config(metric: str) -> dict[str, Any]:
    """Number formats, by the shown headers."""
    shown = headers(metric)
    three = st.column_config.NumberColumn(format="%.3f")
    return {shown["mean"]: three, shown["sd"]: three, shown["clipped_fraction"]: three}


def status_text(lc: LiveComparison) -> str:
    c = lc.comparison
    n = len(c.order)
    if c.done:
        return _("Live comparison: all {n} runs finished.").format(n=n)
    if lc.stopped:
        return _("Live comparison stopped after {k} of {n} runs.").format(k=len(c.finished), n=n)
    strategy, seed = c.order[c.index]
    return _("Live comparison: run {i} of {n} ({strategy}, seed {seed}); curves include the run in "
             "progress.").format(i=c.index + 1, n=n, strategy=Strategy.title_of(strategy),
                                 seed=seed)  # fmt: skip


def draw(task: str) -> None:
    """The results panel, the same skeleton whatever is shown: a caption, a progress bar, the chart, the
    table, the verdict, so an update never changes the page's shape."""
    ss = st.session_state
    caption, bar, chart, grid, words = st.empty(), st.empty(), st.empty(), st.empty(), st.empty()
    lc = live()
    if ss.get("cmp_show") == "live" and lc is not None:
        c = lc.comparison
        metric = c.spec.metric
        caption.caption(status_text(lc) + (" " + lc.notice if lc.notice else "")
                        + " " + _("Corpus: {name}.").format(name=corpus_title(c.corpus.name)))  # fmt: skip
        bar.progress(c.progress, text=_("{p:.0%} of the comparison").format(p=c.progress))
        curves, runs = c.curves(with_current=not lc.finished), c.runs()
    elif ss.get("cmp_show") == "live":
        caption.info(_("No live comparison yet: choose the settings in the sidebar and press Start."))
        metric, curves, runs = "perplexity", pd.DataFrame(), pd.DataFrame()
    else:
        data = shipped(task)
        metric, curves, runs = data["metric"], data["curves"], data["runs"]
        caption.caption(provenance(data))
    fig = comparison_chart(curves, metric, ss.get("ui_cmp_x", "tokens"), ss.get("ui_cmp_band", "minmax"))
    chart.plotly_chart(fig, key="cmp_chart", config={"displaylogo": False})
    grid.dataframe(table(runs, metric), hide_index=True, column_config=column_config(metric))
    words.markdown("\n".join(f"- {s}" for s in verdict(runs, metric)))


def export(task: str) -> None:
    """Download the shown comparison as the CLI writes it: the results JSON and the curves CSV."""
    lc = live()
    if st.session_state.get("cmp_show") == "live":
        if lc is None:
            return

        def data() -> dict[str, Any]:
            return results(lc.comparison)

        json_data, csv_data, name = (lambda: results_json(data())), (lambda: curves_csv(data())), "live"
    else:
        json_data, csv_data = (lambda: shipped_bytes(task, ".json")), (lambda: shipped_bytes(task, ".csv"))
        name = task
    with st.container(horizontal=True):
        st.download_button(_("Results (JSON)"), data=json_data, file_name=f"bptt-compare-{name}.json",
                           mime="application/json", on_click="ignore", key="btn_cmp_json")  # fmt: skip
        st.download_button(_("Curves (CSV)"), data=csv_data, file_name=f"bptt-compare-{name}.csv",
                           mime="text/csv", on_click="ignore", key="btn_cmp_csv")  # fmt: skip
