"""The Gradient lab's Streamlit helpers: which weights (the shipped trained model, the initialisation,
or a snapshot of one of the session's runs), the minibatch that goes with them, the cached analyses, the
estimators' draws as a job of the training workers, and the links between the lab and the Train page."""

from __future__ import annotations

import math
from dataclasses import dataclass

import streamlit as st

from bptt.config import from_mapping
from bptt.corpora import corpus_title, load_corpus
from bptt.i18n import _
from bptt.lab import reports as gradlab
from bptt.truncation import Strategy

from . import lab_tables
from .lang import query_with_language
from .session import guarded, registry, run_namer, session_id
from .settings import current_config_quiet, key

TRAINED, INIT, RUN = "trained", "init", "run"


@dataclass(frozen=True)
class Source:
    """The weights the lab analyses and the minibatch that goes with them."""

    kind: str  # TRAINED, INIT or RUN
    run_id: int | None
    step: int | None
    num_steps: int
    batch_size: int
    num_hiddens: int
    seed: int  # the minibatch's sampler seed (and, for INIT, the initialisation's)
    short: str  # for chart titles: "trained (shipped)", "initialisation" or "run #2, step 400"
    weights: str  # a sentence: which weights

    @property
    def key(self) -> tuple:
        """Hashable, unique within the process (run ids are unique within a session)."""
        return (self.kind, session_id() if self.kind == RUN else None, self.run_id, self.step,
                self.num_steps, self.batch_size, self.num_hiddens, self.seed)  # fmt: skip


@st.cache_resource(max_entries=2, show_spinner=False)
def bundled():
    return load_corpus("bundled", max_tokens=10_000)


@st.cache_resource(max_entries=1, show_spinner=False)
def shipped():
    """The book's experiment trained on the bundled corpus (benchmarks/lab_snapshot.py), and its
    metadata: one read-only copy per process."""
    return gradlab.trained_model(), gradlab.trained_meta()


def corpus(source: Source):
    return registry().get(source.run_id).trainer.corpus if source.kind == RUN else bundled()


def model(source: Source):
    if source.kind == TRAINED:
        return shipped()[0]
    if source.kind == INIT:
        return gradlab.init_model(len(bundled().vocab), source.num_hiddens, source.seed)
    return registry().get(source.run_id).trainer.snapshot_model(source.step)


def open_in_lab(run_id: int, step: int) -> None:
    """Ask the lab to show this run at this step on its next run (the Train page's link sets it)."""
    st.session_state["lab_open"] = (int(run_id), int(step))


def apply_request() -> None:
    """Before the widgets are drawn: a run and step asked for by the Train page's button, or else by the
    query string ?run=<id>&step=<s> when it changed since last applied."""
    ss = st.session_state
    asked = ss.pop("lab_open", None)
    if asked is None:
        q = st.query_params
        try:
            asked = (int(q["run"]), int(q["step"])) if "run" in q and "step" in q else None
        except ValueError:
            asked = None
        if asked == ss.get("lab_applied"):
            return
    if asked is None:
        return
    ss["lab_applied"] = asked
    run = registry().get(asked[0])
    if run is None:
        st.info(
            _("Run #{run} is not among this session's runs; showing the trained model shipped with the lab.")
            .format(run=asked[0])
        )  # fmt: skip
        ss["lab_weights"] = TRAINED
        return
    ss["lab_weights"], ss["lab_run"] = RUN, run.id
    steps = [s for s, _meta in run.trainer.snapshots()]
    ss["lab_step"] = asked[1] if asked[1] in steps else steps[-1]


def snapshot_label(meta: dict, perplexity: bool = False) -> str:
    """ "step 400 (after 3 epochs)" for the step list (whole epochs done); with the perplexity for the
    sentence that names them."""
    ppl = meta["perplexity"]
    epochs = math.floor(meta["epoch"] + 1e-9)  # a fraction of an epoch in progress is not shown
    text = _("step {step:,} (after {epochs:,} epochs)").format(step=meta["step"], epochs=epochs)
    return text + (_(", perplexity {ppl:.2f}").format(ppl=ppl) if perplexity and ppl == ppl else "")


def weights_select(num_steps: int, batch_size: int, num_hiddens: int, seed: int) -> Source | None:
    """The sidebar's choice of weights; the numbers given are those of the initialisation's form."""
    ss = st.session_state
    runs = registry().list()
    kinds = [TRAINED, INIT] + ([RUN] if runs else [])
    if ss.get("lab_weights") not in kinds:
        ss["lab_weights"] = TRAINED
    labels = {TRAINED: _("trained: the book's experiment"), INIT: _("initial weights"),
              RUN: _("a run of this session, at a step")}  # fmt: skip
    kind = st.radio(_("Weights"), kinds, format_func=labels.get, key="lab_weights",
                    help=_("Train a run on the Train page to analyse its weights here."))  # fmt: skip
    if kind == TRAINED:
        net, meta = shipped()
        cfg = meta["settings"]
        st.caption(
            _("Shipped with the lab: {epochs} epochs of the book's experiment (SGD, lr {lr:g}, clipping at "
              "{clip:g}) on the bundled corpus, H = {H}, stored in float16.").format(
                epochs=meta["epochs"], lr=cfg["lr"], clip=cfg["clip"], H=cfg["num_hiddens"])
        )  # fmt: skip
        weights = _(
            "the book's char-RNN trained for {epochs} epochs ({steps:,} steps) on the bundled corpus, "
            "perplexity {ppl:.3g}, shipped with the lab"
        ).format(epochs=meta["epochs"], steps=meta["steps"], ppl=meta["perplexity"])
        return Source(TRAINED, None, None, num_steps, batch_size, net.num_hiddens, seed,
                      _("trained (shipped)"), weights)  # fmt: skip
    if kind == INIT:
        weights = _("the book's initialisation N(0, 0.01²) with seed {seed}").format(seed=seed)
        return Source(
            INIT, None, None, num_steps, batch_size, num_hiddens, seed, _("initialisation"), weights
        )
    if ss.get("lab_run") not in registry():
        ss["lab_run"] = runs[-1].id
    run = registry().get(st.selectbox(_("Run"), registry().ids(), format_func=run_namer(), key="lab_run"))
    metas = dict(run.trainer.snapshots())
    if ss.get("lab_step") not in metas:
        ss["lab_step"] = max(metas)
    shown = {s: snapshot_label(m) for s, m in metas.items()}
    step = st.selectbox(
        _("Step"),
        list(metas),
        format_func=lambda s: shown.get(s, str(s)),
        key="lab_step",
        help=_("The run keeps its weights at a few steps spread over its training."),
    )
    st.caption(_("Corpus and window are the run's: {corpus}, num_steps = {T}, batch size = {B}.").format(
        corpus=corpus_title(run.trainer.corpus.name), T=run.cfg.num_steps, B=run.cfg.batch_size))  # fmt: skip
    weights = _("{run} at {at}").format(run=run.name, at=snapshot_label(metas[step], perplexity=True))
    short = _("run #{run}, step {step}").format(run=run.id, step=step)
    return Source(RUN, run.id, step, run.cfg.num_steps, run.cfg.batch_size, run.cfg.num_hiddens, seed, short,
                  weights)  # fmt: skip


def check(source: Source) -> str | None:
    """Why these weights cannot be analysed here, or None."""
    if source.num_steps > gradlab.MAX_NUM_STEPS or source.batch_size > gradlab.MAX_BATCH:
        return _("the lab analyses windows of at most num_steps = {T} and batch size {B}").format(
            T=gradlab.MAX_NUM_STEPS, B=gradlab.MAX_BATCH
        )
    return None


def describe(source: Source) -> str:
    """Which weights, which minibatch, which gradient: one plain paragraph for every view."""
    c = corpus(source)
    B, T = source.batch_size, source.num_steps
    return _(
        "**Weights:** {weights}. **Minibatch:** the first minibatch of the book's random sampler (seed "
        "{seed}), {B} × {T} tokens of {corpus} (vocabulary {V}), from a zero state. **Gradient:** the "
        "full-window gradient of the mean loss over those B×T = {BT} tokens w.r.t. W_xh, W_hh and b_h."
    ).format(
        weights=source.weights,
        seed=source.seed,
        B=B,
        T=T,
        corpus=corpus_title(c.name),
        V=len(c.vocab),
        BT=B * T,
    )


@st.cache_data(max_entries=8, show_spinner=False)
def _lag_view(_source: Source, key: tuple, k: int, pis: tuple, t0s: tuple):
    X, Y = gradlab.minibatch(corpus(_source), _source.batch_size, _source.num_steps, _source.seed)
    m = model(_source)
    rep = gradlab.lag_report(m, X, Y, gradlab.lab_strategies(k, pis, t0s), seed=_source.seed)
    return rep, gradlab.regular_sweep(m, X, Y)


def lag_view(source: Source, k: int, pis: tuple, t0s: tuple):
    """The lag decomposition, travel, eigenvalues and the regular sweep (cached per weights)."""
    return _lag_view(source, source.key, k, pis, t0s)


def train_config(source: Source, k: int):
    """The settings for "Train with this k": the run's (or, for the initialisation, the Train page's with
    the lab's corpus, window and model), with regular truncation at k."""
    if source.kind == RUN:
        base = registry().get(source.run_id).cfg.to_dict()
    else:
        base = {**current_config_quiet().to_dict(), "corpus": "bundled", "max_tokens": 10_000,
                "tokenizer": "letters", "num_steps": source.num_steps, "batch_size": source.batch_size,
                "num_hiddens": source.num_hiddens, "seed": source.seed}  # fmt: skip
    return from_mapping({**base, "truncation": "regular", "k": int(k)})[0]


def on_train_with(source: Source, k: int) -> None:
    """Callback of "Train with this k": the settings go into the session's settings keys, and the page
    then opens Train with them in its address (what Train reads on a first visit)."""
    with guarded(_("Opening Train")):
        cfg = train_config(source, k)
        for name, value in cfg.to_dict().items():
            st.session_state[key(name)] = value
        st.session_state["goto_train"] = cfg.to_query()


def train_button(container, source: Source, k: int | None) -> None:
    container.button(
        _("Train with this k") if k is None else _("Train with k = {k}").format(k=k),
        key="btn_lab_train_k",
        icon=":material/model_training:",
        on_click=on_train_with,
        args=(source, k),
        disabled=k is None,
        help=_("Opens Train with regular truncation at this k and the other settings of these weights' run."),
    )
    if (query := st.session_state.pop("goto_train", None)) is not None:
        st.switch_page("pages/train.py", query_params=query_with_language(query))


def lab_query(source: Source) -> None:
    """The address names the run and step shown (and keeps the language)."""
    q = {"run": str(source.run_id), "step": str(source.step)} if source.kind == RUN else {}
    q = query_with_language(q)
    if st.query_params.to_dict() != q:
        st.query_params.from_dict(q)
    if source.kind == RUN:
        st.session_state["lab_applied"] = (source.run_id, source.step)


def round_count(x: float) -> str:
    """A count to two significant figures with thousands separators: 1,000,000 rather than 1e+06."""
    return f"{float(f'{x:.2g}'):,.0f}"


def exact_table(exact):
    """The exact table as shown: the strategy in the reader's language, the columns a reader needs."""
    shown = exact.assign(strategy=[Strategy.title_of(s) for s in exact["strategy"]])
    return shown[["strategy", "bias", "variance", "mse", "draws_to_see"]]


def sampled_notes(stats, exact) -> None:
    """The drawn strategies' sampled E‖ĝ − g‖²/‖g‖² beside the exact value, and a warning for each whose
    sample falls short of it by more than its own standard error allows."""
    both = gradlab.sampled_vs_exact(stats, exact)
    lab_tables.show(
        both.assign(strategy=[Strategy.title_of(s) for s in both["strategy"]]), key="table_lab_sampled"
    )
    for row in both[both["short"]].itertuples():
        text = _(
            "{strategy}: the {n} draws give E‖ĝ − g‖²/‖g‖² = {sampled:.3g} ± {se:.2g}, the exact value is "
            "{exact:.3g}. The sample has not met the rare long paths that carry the variance: half of it "
            "comes from path pairs a draw keeps with probability about 1 in {draws}, so it would take of "
            "the order of {draws} draws to see them."
        )
        args = {"strategy": Strategy.title_of(row.strategy), "n": int(row.draws), "sampled": row.sampled_mse,
                "se": row.mse_se, "exact": row.exact_mse, "draws": round_count(row.draws_to_see)}  # fmt: skip
        st.warning(text.format(**args), icon=":material/warning:")


def stats_table(stats):
    """The estimators' table as shown: the strategy column in the reader's language (the data keeps
    the stable labels)."""
    shown = stats.assign(strategy=[Strategy.title_of(s) for s in stats["strategy"]])
    # The sampled bias of an unbiased estimator is Monte Carlo noise by construction: the exact table
    # above gives every bias; this one keeps what the draws illustrate.
    return shown[["strategy", "draws", "variance", "mse", "mse_se", "cos_mean", "cos_min"]]
