"""Train's "three strategies" action: one click trains full, regular and randomized truncation at Train's
settings and seed on the Compare page, overlaid (d2l §8.7.1.4, Fig. 8.7.1; the spec is
bptt.compare.runner.three_strategies).

The click is a wish, not an event (as the run controls are, pages/ui/live.py): Train's callback stores a
`Wish` in session state, and every Train run that finds a wish Compare has not yet taken switches to
Compare. Every Compare run makes the wish true before it reconciles its lane: the comparison running
gives way, the lane's next control is set to "running" and the comparison is shown; the lane's reconcile
then builds the comparison once, tagged with the wish. A wish is done once the lane's control has moved
past it or holds its comparison. Repeating any of these runs changes nothing, and a run cut short is
finished by the next one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import streamlit as st

from bptt.compare.runner import Comparison, Spec, three_strategies
from bptt.corpora import corpus_title
from bptt.data import Corpus
from bptt.i18n import _
from bptt.truncation import Strategy

from . import compare as cmp
from .corpus import current_corpus
from .lang import query_with_language
from .session import guarded, tell
from .settings import current_config_quiet

WISH = "cmp_wish"  # a Wish, from Train's click until Compare has built its comparison or failed to
FROM_TRAIN = "cmp_from_train"  # (Spec, Corpus): Compare's live settings while they are Train's
TASK = "time_machine"  # the text task: Train's settings stand in for its sidebar


@dataclass
class Wish:
    """One click of the action. Its fields change by plain attribute writes (pages/ui/live.py,
    LaneState)."""

    id: str
    spec: Spec
    corpus: Corpus
    control: str | None = None  # the Compare lane's control the wish set to "running", once taken


def on_three() -> None:
    """Train's callback: the comparison of Train's settings, wished for."""
    with guarded(_("Opening the comparison")):
        cfg = current_config_quiet()
        corpus, _error = current_corpus(cfg)
        if corpus is None:
            tell("error", _("No training text is loaded yet."))
            return
        st.session_state[WISH] = Wish(uuid.uuid4().hex, three_strategies(cfg), corpus)


def three_button(can_start: bool) -> None:
    """On Train: the button, and the switch to Compare while a wish waits there."""
    st.button(
        _("Compare the three strategies"),
        key="btn_three",
        icon=":material/stacked_line_chart:",
        on_click=on_three,
        disabled=not can_start,
        help=_(
            "Trains full, regular and randomized truncation at these settings and this seed, one after "
            "another, on the Compare page, and overlays their curves"
        ),
    )
    wish = st.session_state.get(WISH)
    if wish is not None and wish.control is None:
        st.switch_page("pages/compare.py", query_params=query_with_language({}))


def follow_wish() -> None:
    """On Compare, before and after its lane is reconciled: make the waiting wish true (see above)."""
    ss = st.session_state
    wish = ss.get(WISH)
    if wish is None:
        return
    if wish.control is None:
        if (job := cmp.LANE.job()) is not None and not job.finished:
            job.stopped = True  # the comparison in progress gives way; its control moves to the next
        wish.control = cmp.LANE.control_key()
    job = cmp.LANE.job()
    if cmp.LANE.control_key() != wish.control or getattr(job, "wish", None) == wish.id:
        del ss[WISH]  # built (and perhaps ended already), or building it failed and said why
        return
    ss[FROM_TRAIN] = (wish.spec, wish.corpus)
    ss["ui_cmp_task"] = TASK
    ss[f"ui_cmp_show_{cmp.LANE.target()}"] = "live"
    ss[wish.control] = "running"


def handed(task: str) -> tuple[Spec, Corpus] | None:
    """Train's settings, while Compare uses them (only for the text task)."""
    return st.session_state.get(FROM_TRAIN) if task == TASK else None


def create(task: str) -> cmp.LiveComparison | None:
    """Compare's lane builds its comparison from Train's settings while it has them, else from its
    sidebar (pages/ui/compare.py)."""
    if (given := handed(task)) is None:
        return cmp.create(task)
    with guarded(_("Starting the comparison")):
        spec, corpus = given
        wish = st.session_state.get(WISH)
        return cmp.LiveComparison(Comparison(spec, corpus), corpus.notice, wish.id if wish else None)
    return None


def _own_settings() -> None:
    st.session_state.pop(FROM_TRAIN, None)


def settings(task: str) -> bool:
    """In Compare's sidebar: Train's settings while they are in use (True), with the way back to the
    page's own; else nothing (False)."""
    if (given := handed(task)) is None:
        return False
    spec, corpus = given
    b = spec.base
    st.markdown(_("**Train's settings**"))
    st.caption(
        _(
            "{strategies}; each with seed {seed}, so all three start from the same weights and see the same "
            "minibatches. H = {H}, num_steps = {T}, batch {B}, {optimizer} lr {lr}, clip {clip}, {epochs} "
            "epochs."
        ).format(
            strategies=", ".join(Strategy.title_of(s) for s in spec.strategies),
            seed=spec.seeds[0],
            H=b.num_hiddens,
            T=b.num_steps,
            B=b.batch_size,
            optimizer=b.optimizer,
            lr=b.lr,
            clip=b.clip,
            epochs=b.epochs,
        )  # fmt: skip
    )
    st.text(_("Corpus: {name}").format(name=corpus_title(corpus.name)))  # an upload's name is plain text
    st.button(_("Use this page's settings"), key="btn_cmp_own", on_click=_own_settings)
    return True
