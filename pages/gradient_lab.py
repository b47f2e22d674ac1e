"""Gradient lab: what each truncation of d2l §8.7.1 does to the gradient, at chosen weights."""

import streamlit as st

from bptt import gradlab, lab_charts
from bptt.data import load_corpus
from bptt.estimators import MAX_DRAWS, choose_k
from bptt.i18n import _
from pages import ensure_router

ensure_router()

PIS = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
T0S = (5.0, 10.0, 20.0, 50.0, 100.0)


@st.cache_resource(max_entries=2, show_spinner=False)
def corpus():
    return load_corpus("bundled", max_tokens=10_000)


@st.cache_data(max_entries=8, show_spinner=False)
def lag_view(num_steps, num_hiddens, batch, seed, k, pis, t0s):
    c = corpus()
    X, Y = gradlab.minibatch(c, batch, num_steps, seed)
    model = gradlab.init_model(len(c.vocab), num_hiddens, seed)
    randomized = tuple(("randomized", p) for p in pis) + tuple(("artbp", t) for t in t0s)
    rep = gradlab.lag_report(model, X, Y, regular_k=(k,), randomized=randomized, seed=seed)
    return rep, gradlab.regular_sweep(model, X, Y)


def estimator_view(num_steps, num_hiddens, batch, seed, k, pis, t0s, draws, progress):
    c = corpus()
    X, Y = gradlab.minibatch(c, batch, num_steps, seed)
    model = gradlab.init_model(len(c.vocab), num_hiddens, seed)
    strategies = [("regular", k)] + [("randomized", p) for p in pis] + [("artbp", t) for t in t0s]
    stats, cos, _sweep = gradlab.estimator_report(
        model, X, Y, strategies, draws, seed=seed, progress=progress, with_sweep=False
    )
    return stats, cos


def request_draws() -> None:
    st.session_state["lab_draw_requested"] = True


st.title(_("Gradient lab"))
st.caption(
    _(
        "What truncation does to the gradient (d2l §8.7): the exact full-window gradient of the book's "
        "char-RNN on one real minibatch, split by lag, and each estimator against it. Weights: the "
        "seeded initialisation; corpus: the bundled Shakespeare."
    )
)

with st.sidebar.form("lab_settings"):
    num_steps = st.number_input(_("num_steps"), 2, gradlab.MAX_NUM_STEPS, 35, key="lab_num_steps")
    num_hiddens = st.number_input(_("num_hiddens"), 4, gradlab.MAX_NUM_HIDDENS, 256, key="lab_num_hiddens")
    batch = st.number_input(_("batch size"), 1, gradlab.MAX_BATCH, 32, key="lab_batch")
    seed = st.number_input(_("seed"), 0, 10_000, 0, key="lab_seed")
    k = st.number_input(_("regular truncation k"), 1, gradlab.MAX_NUM_STEPS, 10, key="lab_k")
    pis = st.multiselect(_("randomized: constant π"), PIS, default=[0.5, 0.9], key="lab_pis")
    t0s = st.multiselect(_("ARTBP: T0 (α = 3)"), T0S, default=[10.0, 50.0], key="lab_t0s")
    draws = st.number_input(_("draws per randomized strategy"), 10, MAX_DRAWS, 100, key="lab_draws")
    eps = st.number_input(_("ε for choosing k"), 0.0001, 1.0, 0.05, format="%.4f", key="lab_eps")
    st.form_submit_button(_("Apply"))

k = min(int(k), int(num_steps))
settings = (int(num_steps), int(num_hiddens), int(batch), int(seed), k, tuple(pis), tuple(t0s))
weights = _("initialisation, seed {seed}").format(seed=int(seed))
try:
    with st.spinner(_("Decomposing the full gradient by lag…")):
        rep, sweep = lag_view(*settings)
except ValueError as e:
    st.error(_("These settings cannot be analysed: {reason}").format(reason=e))
    st.stop()

chosen = choose_k(sweep, float(eps))
c1, c2, c3, c4 = st.columns(4)
c1.metric(_("share of g from lags > 10"), f"{rep.share_beyond(10):.3g}")
c2.metric(_("share of g from lags > 20"), f"{rep.share_beyond(20):.3g}")
c3.metric(_("σ_max(W_hh)"), f"{rep.sigma_max:.4g}")
c4.metric(
    _("smallest k within ε"),
    "—" if chosen is None else str(chosen),
    help=_("Smallest regular k with ‖ĝ_k − g‖/‖g‖ ≤ ε, exact (Aicher et al. 2019's idea)."),
)

by_lag, travel, draws_tab = st.tabs([_("By lag"), _("Travel and eigenvalues"), _("Estimators over draws")])
with by_lag:
    st.plotly_chart(lab_charts.lag_share_figure(rep.table, weights), key="lab_lag_share")
    st.plotly_chart(lab_charts.lag_norm_figure(rep.table, weights), key="lab_lag_norm")
    st.caption(
        _(
            "Regular k keeps a lag-j path only when its two ends fall in one chunk, so it also drops short "
            "lags at chunk boundaries; randomized strategies keep every lag on average (bars: ± 1 sd over "
            "{n} draws of the gates)."
        ).format(n=gradlab.KEPT_DRAWS)
    )
    st.dataframe(rep.table, hide_index=True)
with travel:
    left, right = st.columns(2)
    left.plotly_chart(lab_charts.travel_figure(rep.travel, weights), key="lab_travel")
    right.plotly_chart(lab_charts.eigenvalue_figure(rep.eigenvalues, rep.sigma_max, weights), key="lab_eigen")
    st.caption(
        _(
            "σ_max(W_hh) < 1/γ with γ = max|f′| (1 for tanh) suffices for gradients to vanish "
            "(Pascanu et al. 2013). Here σ_max = {s:.3g}, max f′ in the window = {g:.3g}."
        ).format(s=rep.sigma_max, g=rep.gamma)
    )
with draws_tab:
    key = (settings, int(draws))
    stored = st.session_state.get("lab_stats")
    st.button(_("Draw the estimators"), key="lab_draw", type="primary", on_click=request_draws)
    if st.session_state.pop("lab_draw_requested", False):
        bar = st.progress(0.0, text=_("Drawing the estimators…"))
        try:
            result = estimator_view(*settings, int(draws), lambda f: bar.progress(min(f, 1.0)))
        except ValueError as e:
            st.error(_("These settings cannot be analysed: {reason}").format(reason=e))
            st.stop()
        bar.empty()
        stored = st.session_state["lab_stats"] = (key, result)
    if stored is None or stored[0] != key:
        st.info(_("Press “Draw the estimators” to draw each strategy {n} times.").format(n=int(draws)))
        st.plotly_chart(lab_charts.plane_figure(None, sweep, weights), key="lab_plane")
    else:
        stats, cos = stored[1]
        st.plotly_chart(lab_charts.plane_figure(stats, sweep, weights), key="lab_plane")
        st.caption(
            _(
                "Regular truncation is deterministic: its variance is exactly 0. A randomized estimator is "
                "unbiased when its bias lies within about 2 Monte Carlo standard errors (bias_se) of 0."
            )
        )
        st.dataframe(stats, hide_index=True, key="lab_stats_table")
        st.plotly_chart(lab_charts.cos_figure(cos, weights), key="lab_cos")
