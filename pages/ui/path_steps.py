"""The steps of the guided path through d2l §8.7, one function each, in the book's order. Each draws the
equation with the number the Chinese edition prints (8.7.x), the step's controls, one figure, the
numbers behind it, one sentence on what to look for, and a button to the page that shows it at scale.

The numbers come from bptt.path.recursion (the scalar RNN of §8.7.1), bptt.path.powers (§8.7.2 and exercise 1)
and bptt.segmentation (Fig. 8.7.1); the figures from bptt.charts.path.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from bptt.charts import path as path_charts
from bptt.charts import train as charts
from bptt.i18n import _, ngettext
from bptt.path import recursion
from bptt.segmentation import TIME_MACHINE_OPENING, book_figure_rows

from .path import compare_button, lab_button, look_for, train_button

T = 50  # time steps of the scalar RNN
DRAWS = 2000  # draws of randomized truncation's z_T

EQ_RECURSION = (
    r"\frac{\partial h_t}{\partial w_h} = \frac{\partial f(x_t,h_{t-1},w_h)}{\partial w_h}"
    r" + \frac{\partial f(x_t,h_{t-1},w_h)}{\partial h_{t-1}}\,\frac{\partial h_{t-1}}{\partial w_h}"
)
EQ_UNROLLED = (
    r"\frac{\partial h_t}{\partial w_h} = \frac{\partial f(x_t,h_{t-1},w_h)}{\partial w_h} + \sum_{i=1}^{t-1}"
    r"\Big(\prod_{j=i+1}^{t}\frac{\partial f(x_j,h_{j-1},w_h)}{\partial h_{j-1}}\Big)"
    r"\frac{\partial f(x_i,h_{i-1},w_h)}{\partial w_h}"
)

EQ_REGULAR = (  # (8.7.7) stopped after tau terms: the book says it in words (§8.7.1.2)
    r"\frac{\partial h_t}{\partial w_h} \approx \frac{\partial f(x_t,h_{t-1},w_h)}{\partial w_h}"
    r" + \sum_{i=t-\tau+1}^{t-1}\Big(\prod_{j=i+1}^{t}"
    r"\frac{\partial f(x_j,h_{j-1},w_h)}{\partial h_{j-1}}\Big)"
    r"\frac{\partial f(x_i,h_{i-1},w_h)}{\partial w_h}"
)


def _scalar_rnn() -> recursion.ScalarRNN:
    """The scalar RNN h_t = f(w_h h_{t-1} + x_t) with the sliders' w_h and f, on fixed inputs."""
    ss = st.session_state
    activation = "tanh" if ss["ui_path_tanh_scalar"] else "identity"
    return recursion.ScalarRNN(float(ss["ui_path_w"]), recursion.default_inputs(T), activation=activation)


def _scalar_controls() -> recursion.ScalarRNN:
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.slider(
            "w_h",
            0.5,
            1.5,
            step=0.01,
            key="ui_path_w",
            width=300,
            help=_("The recurrent weight of the scalar RNN h_t = f(w_h h_(t−1) + x_t)."),
        )
        st.toggle(_("f = tanh (off: the identity, as in §8.7.2)"), key="ui_path_tanh_scalar")
    return _scalar_rnn()


def recursion_step() -> None:
    st.markdown(
        _(
            "The hidden state depends on $w_h$ directly and through $h_{t-1}$ (8.7.1), so its "
            "gradient is a recursion:"
        )
    )
    st.latex(EQ_RECURSION + r"\qquad(8.7.4)")
    st.markdown(
        _(
            "Unrolled with $a_t = b_t + c_t a_{t-1}$ (8.7.5, 8.7.6), it is a sum over every earlier "
            "step, each term a product of $t - i$ factors $c_j$:"
        )
    )
    st.latex(EQ_UNROLLED + r"\qquad(8.7.7)")
    rnn = _scalar_controls()
    terms = recursion.unrolled_terms(rnn)
    st.plotly_chart(path_charts.terms_figure(terms), key="chart_path_recursion")
    st.metric(_("∂h_T/∂w_h, the sum of the terms (T = {T})").format(T=T), f"{terms.sum():.4g}")
    look_for(
        _(
            "Each step further back multiplies its term by one more factor c_j = f′·w_h: with "
            "|c_j| < 1 the bars fall geometrically, so distant steps hardly count; set w_h above 1 "
            "with the identity and they grow instead."
        )
    )
    lab_button(_("See the sum split by lag on the book's RNN (Gradient lab)"), "recursion")


def full_step() -> None:
    st.markdown(
        _(
            "Full computation keeps every term of (8.7.7): $t$ terms at step $t$, each a longer "
            "product. It is slow, and a tiny change can change the result out of all proportion."
        )
    )
    st.latex(EQ_UNROLLED + r"\qquad(8.7.7)")
    rnn = _scalar_controls()
    nudged = recursion.ScalarRNN(rnn.w * 1.01, rnn.x, rnn.h0, rnn.activation)
    a, b = recursion.gradient_path(rnn), recursion.gradient_path(nudged)
    paths = {f"w_h = {rnn.w:.3g}": a, _("w_h 1% larger"): b}
    st.plotly_chart(path_charts.full_figure(np.arange(1, T + 1), paths), key="chart_path_full")
    change = abs(b[-1] - a[-1]) / max(abs(a[-1]), 1e-300)
    st.metric(_("change of ∂h_T/∂w_h when w_h grows by 1%"), f"{100 * change:.3g}%")
    look_for(
        _(
            "With the identity and w_h > 1 the full sum grows exponentially in t, and a 1% change of "
            "w_h moves it by far more than 1%: the book's reason to avoid full computation."
        )
    )
    train_button(_("Train the book's RNN with full computation in each window"), "full", truncation="full")


def regular_step() -> None:
    st.markdown(
        _(
            "Regular truncation stops the sum after $\\tau$ terms: the gradient flows back at most "
            "$\\tau$ steps (the book's experiments cut at the start of each window of num_steps). "
            "The book states it in words; the sum it keeps is:"
        )
    )
    st.latex(EQ_REGULAR)
    rnn = _scalar_controls()
    tau = st.slider("τ", 1, T, key="ui_path_tau", width=300)
    full = recursion.gradient_path(rnn)[-1]
    taus = np.arange(1, T + 1)
    errors = np.array([abs(recursion.truncated_gradient(rnn, int(k)) - full) for k in taus]) / abs(full)
    st.plotly_chart(path_charts.truncation_figure(taus, errors, int(tau)), key="chart_path_regular")
    st.metric(_("relative error at τ = {tau}").format(tau=int(tau)), f"{errors[int(tau) - 1]:.3g}")
    look_for(
        _(
            "The error falls as fast as the terms of (8.7.7) do: when they shrink geometrically a "
            "short τ loses little (a bias towards short-range dependencies), when they grow no τ "
            "short of T is close."
        )
    )
    train_button(
        _("Train with regular truncation, k = {k}").format(k=int(tau)),
        "regular",
        truncation="regular",
        k=int(tau),
    )


def randomized_step() -> None:
    st.markdown(
        _(
            "Randomized truncation (Tallec & Ollivier 2017) cuts the recursion at random and weights "
            "what survives, so that the estimate is right on average:"
        )
    )
    st.latex(r"P(\xi_t = 0) = 1-\pi_t,\quad P(\xi_t = \pi_t^{-1}) = \pi_t,\quad E[\xi_t] = 1")
    st.latex(
        r"z_t = \frac{\partial f(x_t,h_{t-1},w_h)}{\partial w_h} + \xi_t\,\frac{\partial f(x_t,h_{t-1},w_h)}"
        r"{\partial h_{t-1}}\,\frac{\partial h_{t-1}}{\partial w_h},\qquad E[z_t] = \frac{\partial h_t}"
        r"{\partial w_h}\qquad(8.7.8)"
    )
    st.caption(
        _(
            "Some online copies of the Chinese text print $P(\\xi_t = \\pi_t^{-1} = \\pi_t)$ and "
            "$E|\\xi_t|$ here; the forms above are the book's."
        )
    )
    rnn = _scalar_controls()
    pi = st.slider("π", 0.05, 1.0, step=0.05, key="ui_path_pi", width=300)
    draws = recursion.randomized_draws(rnn, float(pi), DRAWS)
    mean, se = recursion.running_mean(draws)
    full = recursion.gradient_path(rnn)[-1]
    st.plotly_chart(path_charts.randomized_figure(mean, se, full, draws), key="chart_path_randomized")
    a, b, c = st.columns(3)
    a.metric(_("mean of {n} draws ± standard error").format(n=DRAWS), f"{mean[-1]:.4g} ± {se[-1]:.2g}")
    b.metric(_("full gradient ∂h_T/∂w_h"), f"{full:.4g}")
    c.metric(_("standard deviation of one draw / |full|"), f"{draws.std(ddof=1) / abs(full):.3g}")
    look_for(
        _(
            "The running mean settles on the full gradient (unbiased); single draws scatter around it, "
            "the more the lower π and the longer the dependencies a cut breaks (try the identity with "
            "w_h = 1): the variance the book blames for randomized truncation being no better in practice."
        )
    )
    train_button(
        _("Train with randomized truncation, π = {pi}").format(pi=f"{pi:g}"),
        "randomized",
        truncation="randomized",
        schedule="constant",
        pi=float(pi),
    )


def comparison_step() -> None:
    ss = st.session_state
    st.markdown(
        _(
            "The book's Fig. 8.7.1 compares the three strategies over the first words of *The Time "
            "Machine*: randomized truncation splits the text into segments of different lengths, "
            "regular truncation into equal ones, full computation keeps one expression. Here are "
            "real cuts of the library's strategies over one window; a black bar is a cut."
        )
    )
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.slider("π", 0.05, 1.0, step=0.05, key="ui_path_pi", width=250)
        st.slider("k", 1, T, key="ui_path_tau", width=250)
        st.button(
            _("Draw again"),
            key="btn_path_redraw",
            icon=":material/casino:",
            on_click=lambda: ss.update(ui_path_draw=ss["ui_path_draw"] + 1),
        )
    text = TIME_MACHINE_OPENING
    rows = book_figure_rows(len(text), float(ss["ui_path_pi"]), int(ss["ui_path_tau"]), ss["ui_path_draw"])
    fig = charts.segmentation_strip(list(text), rows)
    fig.update_layout(title_text=_("Fig. 8.7.1, drawn from real cuts"), margin_l=200)
    st.plotly_chart(fig, key="chart_path_comparison")
    counts = {name: int((xi == 0).sum()) for name, xi in rows.items()}
    cols = st.columns(len(counts))
    for col, (name, n) in zip(cols, counts.items(), strict=True):
        col.metric(name, ngettext("{n} segment", "{n} segments", n).format(n=n))
    look_for(
        _(
            "Same text, three segmentations: random lengths, equal lengths, one piece. The book finds "
            "randomized truncation not much better than regular in practice; Compare tests that claim "
            "over several seeds."
        )
    )
    compare_button(_("Compare the three strategies over seeds"), "comparison")
