"""Gradient lab: what each truncation of d2l §8.7.1 does to the gradient, at chosen weights.

A flat script over pages/ui/lab.py: the weights (the initialisation or a run's snapshot), the settings,
then three views of one minibatch's full-window gradient: by lag, how far it travels, the estimators.
"""

import streamlit as st

from bptt.charts import lab as lab_charts
from bptt.i18n import _
from bptt.lab import reports as gradlab
from bptt.lab.estimators import MAX_DRAWS, choose_k
from bptt.lab.reports import MAX_BATCH, MAX_NUM_HIDDENS, MAX_NUM_STEPS
from pages import ensure_router
from pages.ui import lab, lab_draws, lab_tables

ensure_router()
ss = st.session_state

PIS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
T0S = (5.0, 10.0, 20.0, 50.0, 100.0)
DEFAULTS = {"lab_num_steps": 35, "lab_num_hiddens": 256, "lab_batch": 32, "lab_seed": 0, "lab_k": 10,
            "lab_pis": [0.5, 0.9], "lab_t0s": [10.0, 50.0], "lab_draws": 100, "lab_eps": 0.05}  # fmt: skip
for name, value in DEFAULTS.items():  # through session state only: app.py keeps "lab_*" across pages
    ss.setdefault(name, value)


st.title(_("Gradient lab"))
st.caption(
    _(
        "What truncation does to the gradient (d2l §8.7): the exact full-window gradient of the book's "
        "char-RNN on one real minibatch, split by lag, and each estimator against it, at the weights you "
        "choose: the book's experiment trained (shipped with the lab), the initialisation, or a run of this "
        "session at one of its steps."
    )
)

lab.apply_request()
with st.sidebar:
    st.subheader(_("Weights"))
    placeholder = st.container()  # filled after the form: the initialisation reads its numbers
    with st.form("form_lab"):
        st.caption(_("The minibatch, and the initial weights' size (a run brings its own):"))
        num_steps = st.number_input(_("num_steps"), 2, MAX_NUM_STEPS, key="lab_num_steps")
        num_hiddens = st.number_input(_("num_hiddens"), 4, MAX_NUM_HIDDENS, key="lab_num_hiddens")
        batch = st.number_input(_("batch size"), 1, MAX_BATCH, key="lab_batch")
        seed = st.number_input(
            _("seed"),
            0,
            10_000,
            key="lab_seed",
            help=_("Seeds the minibatch's sampler and, for the initialisation, its weights."),
        )
        st.caption(_("The estimators:"))
        k = st.number_input(_("regular truncation k"), 1, MAX_NUM_STEPS, key="lab_k")
        pis = st.multiselect(_("randomized: constant π"), PIS, key="lab_pis")
        t0s = st.multiselect(_("ARTBP: T0 (α = 3)"), T0S, key="lab_t0s")
        draws = st.number_input(_("draws per randomized strategy"), 10, MAX_DRAWS, key="lab_draws")
        eps = st.number_input(_("ε for choosing k"), 0.0001, 1.0, format="%.4f", key="lab_eps")
        st.form_submit_button(_("Apply"), key="btn_lab_apply")  # a key that does not depend on the language
    with placeholder:
        source = lab.weights_select(int(num_steps), int(batch), int(num_hiddens), int(seed))

lab.lab_query(source)
if (why := lab.check(source)) is not None:
    st.error(_("These weights cannot be analysed: {reason}").format(reason=why))
    st.stop()
k = min(int(k), source.num_steps)
options = (k, tuple(pis), tuple(t0s))
try:
    with st.spinner(_("Decomposing the full gradient by lag…")):
        rep, sweep = lab.lag_view(source, *options)
except ValueError as e:
    st.error(_("These settings cannot be analysed: {reason}").format(reason=e))
    st.stop()
about = lab.describe(source)
st.info(about, icon=":material/info:")

chosen = choose_k(sweep, float(eps))
c1, c2, c3, c4, c5 = st.columns([1.2, 1.1, 0.9, 1, 1.3], vertical_alignment="bottom")
c1.metric(
    _("projection share, k > 10"),
    f"{rep.share_beyond(10):.3g}",
    help=_(
        "⟨Σ_(k>10) g_k, g⟩ / ‖g‖²: the part of g along g that lags > 10 carry; all lags' shares sum to 1."
    ),
)
c2.metric(
    _("tail norm, k > 10"),
    f"{rep.norm_beyond(10):.3g}",
    help=_("‖Σ_(k>10) g_k‖ / ‖g‖: the size of the lags > 10 part of g, whatever its direction."),
)
c3.metric(_("σ_max(W_hh)"), f"{rep.sigma_max:.4g}")
c4.metric(
    _("smallest k within ε"),
    "—" if chosen is None else str(chosen),
    help=_("Smallest regular k with ‖ĝ_k − g‖/‖g‖ ≤ ε, exact (Aicher et al. 2019's idea)."),
)
lab.train_button(c5, source, chosen)

by_lag, travel, draws_tab = st.tabs([_("By lag"), _("Travel and eigenvalues"), _("Estimators over draws")])
with by_lag:
    st.plotly_chart(
        lab_charts.lag_share_figure(rep.table, source.short, exact=not rep.kept_draws),
        key="chart_lab_lag_share",
    )
    st.plotly_chart(lab_charts.lag_norm_figure(rep.table, source.short), key="chart_lab_lag_norm")
    st.caption(
        _(
            "A lag's share ⟨g_k, g⟩/‖g‖² is its projection on g: the shares sum to 1, and a lag whose term "
            "points partly against the rest of g has a negative share. tail_norm is ‖Σ_(j>k) g_j‖/‖g‖, the "
            "size of the lags beyond k whatever their direction."
        )
    )
    kept_note = (
        _("bars: ± 1 exact sd over the gates")
        if not rep.kept_draws
        else _("bars: ± 1 sd over {n} draws of the gates; this window is too large for exact moments").format(
            n=rep.kept_draws
        )
    )
    st.caption(
        _(
            "Regular k keeps a lag-j path only when its two ends fall in one chunk, so it also drops short "
            "lags at chunk boundaries; randomized strategies keep every lag on average ({note})."
        ).format(note=kept_note)
    )
    lab_tables.show(rep.table, key="table_lab_lags")
with travel:
    st.caption(
        _("Jacobians ∂h_t/∂h_(t−k) of the forward pass at {weights}, on the minibatch above.").format(
            weights=source.short
        )
    )
    left, right = st.columns(2)
    left.plotly_chart(lab_charts.travel_figure(rep.travel, source.short), key="chart_lab_travel")
    right.plotly_chart(
        lab_charts.eigenvalue_figure(rep.eigenvalues, rep.sigma_max, source.short), key="chart_lab_eigen"
    )
    st.caption(
        _(
            "σ_max(W_hh) < 1/γ with γ = max|f′| (1 for tanh) suffices for gradients to vanish "
            "(Pascanu et al. 2013). Here σ_max = {s:.3g}, max f′ in the window = {g:.3g}."
        ).format(s=rep.sigma_max, g=rep.gamma)
    )
with draws_tab:
    st.caption(
        _("Each estimator ĝ against the full-window gradient g above, at {weights}.").format(
            weights=source.short
        )
    )
    st.plotly_chart(lab_charts.plane_figure(rep.exact, sweep, source.short), key="chart_lab_plane")
    if rep.exact is not None:
        st.caption(
            _(
                "Exact values, no sampling. Regular truncation is deterministic: variance "
                "exactly 0 and an exact bias. Randomized truncation and ARTBP are unbiased by construction: "
                "each path's weight, the product of the gates on its edges, has expectation 1, so E ĝ = g "
                "and their bias is exactly 0. draws_to_see: half of the variance comes from pairs of long "
                "paths that a draw keeps with probability 1/draws_to_see or less."
            )
        )
        lab_tables.show(lab.exact_table(rep.exact), key="table_lab_exact")
    key = (source.key, options, int(draws))
    strategies = gradlab.lab_strategies(k, pis, t0s)

    def build():
        X, Y = gradlab.minibatch(lab.corpus(source), source.batch_size, source.num_steps, source.seed)
        return gradlab.EstimatorDraws(lab.model(source), X, Y, strategies, int(draws), seed=source.seed)

    try:
        phase = lab_draws.reconcile_draws(key, build)
    except ValueError as e:
        st.error(_("These settings cannot be analysed: {reason}").format(reason=e))
        st.stop()
    b1, b2 = st.columns([1, 3], vertical_alignment="center")
    b1.button(_("Draw the estimators"), key="btn_lab_draw", type="primary", on_click=lab_draws.want_draws,
              args=(key,), disabled=phase in ("running", "done"))  # fmt: skip
    if phase == "running":
        b2.button(_("Stop drawing"), key="btn_lab_draw_stop", on_click=lab_draws.want_draws, args=(None,))
        lab_draws.draw_progress(key, build)
    elif phase == "failed":
        st.error(_("The draws failed. The details are in the server log."))
    elif phase == "idle":
        paused = lab_draws.paused_fraction(key)
        if paused is None:
            st.info(
                _("Press “Draw the estimators” to draw each strategy {n} times and set the sample beside "
                  "the exact values.").format(n=int(draws))
            )  # fmt: skip
        else:
            st.info(_("The draws stopped at {pct:.0%}; “Draw the estimators” goes on from there.").format(
                pct=paused))  # fmt: skip
    else:
        stats, cos = lab_draws.draws_record().job.result
        if rep.exact is not None:
            lab.sampled_notes(stats, rep.exact)
        lab_tables.show(lab.stats_table(stats), key="table_lab_stats")
        st.plotly_chart(lab_charts.cos_figure(cos, source.short), key="chart_lab_cos")
