"""The section's key equations (d2l §8.7), and what a π_t schedule does to one window."""

import logging

import numpy as np
import streamlit as st

from bptt.charts import train as charts
from bptt.i18n import _
from bptt.tasks.influence import InfluenceBalancing, train_theta
from bptt.truncation import ARTBPPi, ConstantPi
from pages import ensure_router
from pages.ui.path_steps import EQ_RECURSION, EQ_REGULAR, EQ_UNROLLED

log = logging.getLogger("bptt_lab.theory")

ensure_router()

IB_SEEDS = (0, 1, 2)


@st.cache_data(max_entries=64)
def influence_run(truncation: str, k: int, pi: float, seed: int = 0, steps: int = 4000) -> np.ndarray:
    """θ over online SGD on influence balancing (cached: the same sliders give the same curve)."""
    return train_theta(
        InfluenceBalancing(), steps, truncation=truncation, k=max(k, 1), schedule=ConstantPi(pi), seed=seed
    )


@st.cache_data(max_entries=4)
def sensitivities(max_k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    task = InfluenceBalancing()
    Ks = np.arange(1, max_k + 1)
    sliding = np.array([task.truncated_sensitivity(int(k)) for k in Ks])
    chunked = np.cumsum(sliding) / Ks  # the mean over a chunk of K of the sliding values 1..K
    return Ks, sliding, chunked


st.title(_("The equations"))
st.caption(_("d2l §8.7 (English edition §9.7), with the known errata marked"))

st.subheader(_("Why the gradient is hard"))
st.markdown(
    _("With $h_t = f(x_t, h_{t-1}, w_h)$, the hidden state depends on $w_h$ directly and through $h_{t-1}$:")
)
st.latex(EQ_RECURSION + r"\qquad(8.7.4)")
st.markdown(_("Unrolled, the gradient is a sum over every earlier step:"))
st.latex(EQ_UNROLLED + r"\qquad(8.7.7)")
st.markdown(
    _(
        "**Full computation** (§8.7.1.1) evaluates the whole sum; **regular truncation** (§8.7.1.2) stops it "
        "after $\\tau$ terms, which the book says in words:"
    )
)
st.latex(EQ_REGULAR)
st.markdown(
    _("**Randomized truncation** (§8.7.1.3; Tallec & Ollivier 2017) replaces the sum by a random variable:")
)
st.latex(
    r"P(\xi_t = 0) = 1-\pi_t,\quad P\!\left(\xi_t = \tfrac{1}{\pi_t}\right) = \pi_t"
    r"\quad\Longrightarrow\quad E[\xi_t] = 1"
)
st.latex(
    r"z_t = \frac{\partial f(x_t,h_{t-1},w_h)}{\partial w_h}"
    r" + \xi_t\,\frac{\partial f(x_t,h_{t-1},w_h)}{\partial h_{t-1}}\,\frac{\partial h_{t-1}}{\partial w_h},"
    r"\qquad E[z_t] = \frac{\partial h_t}{\partial w_h}\qquad(8.7.8)"
)
st.page_link(
    "pages/path.py",
    label=_(
        "The three strategies side by side (Fig. 8.7.1, drawn from real cuts): the guided path, step 8.7.1.4"
    ),
    icon=":material/route:",
)
st.info(
    _(
        "Errata of this copy of the Chinese text (the book's own source prints both correctly): "
        "it prints $P(\\xi_t = \\pi_t^{-1} = \\pi_t)$ for "
        "$P(\\xi_t = 1/\\pi_t) = \\pi_t$, and $E|\\xi_t| = \\partial h_t/\\partial w_h$ for "
        "$E[z_t] = \\partial h_t/\\partial w_h$. Unbiasedness of the recursive $z_t$ needs "
        "$E[\\xi_t \\mid \\text{earlier } \\xi, \\text{data}] = 1$, not independent $\\xi_t$: ARTBP's "
        "$\\pi_t$ depends on the steps since the last cut and it is still unbiased."
    ),
    icon=":material/edit_note:",
)

st.subheader(_("Vanishing and exploding gradients (§8.7.2)"))
st.markdown(
    _("For the linear RNN of §8.7.2 the gradient reaching $h_t$ is a sum of powers of $W_{hh}^\\top$:")
)
st.latex(
    r"\frac{\partial L}{\partial h_t} = W_{hh}^\top \frac{\partial L}{\partial h_{t+1}}"
    r" + W_{qh}^\top \frac{\partial L}{\partial o_t}"
    r" = \sum_{i=t}^{T} \left(W_{hh}^\top\right)^{T-i} W_{qh}^\top \frac{\partial L}{\partial o_{T+t-i}}"
    r"\qquad(8.7.14,\ 8.7.15)"
)
st.markdown(
    _(
        "Eigenvalues of $W_{hh}$ below 1 in magnitude vanish in those powers, above 1 they explode: the "
        "vanishing and exploding gradient."
    )
)

st.subheader(_("What a schedule does to one window"))
left, right = st.columns([1, 3])
with left:
    kind = st.radio(
        _("π_t schedule"),
        ["constant", "ARTBP"],
        format_func=lambda v: _("constant") if v == "constant" else "ARTBP",
        horizontal=True,
        key="theory_kind",
    )
    num_steps = st.slider(_("num_steps"), 5, 200, 35, key="theory_num_steps")
    if kind == "constant":
        pi = st.slider("π", 0.05, 1.0, 0.9, 0.01, key="theory_pi")
        schedule = ConstantPi(pi)
    else:
        alpha = st.slider("α", 1.1, 10.0, 3.0, 0.1, key="theory_alpha")
        t0 = st.slider("T0", 2.0, 200.0, 10.0, 1.0, key="theory_t0")
        schedule = ARTBPPi(alpha, t0)
with right:
    try:
        st.plotly_chart(charts.schedule_preview(schedule, num_steps), key="theory_schedule")
    except Exception:
        log.exception("schedule preview failed")
        st.error(_("The preview could not be drawn for these values."))

st.subheader(_("A task where truncation is provably wrong"))
st.markdown(
    _(
        "*Influence balancing* (Tallec & Ollivier, ICLR 2018): 23 units, $s_t = A s_{t-1} + \\theta v$ with "
        "$A = 0.5\\,I + 0.5\\,$(superdiagonal), $v = +1$ on 10 units and $-1$ on 13, loss "
        "$\\tfrac12 (s^1_t - 1)^2$ on the first unit; the true sensitivity is $ds^1/d\\theta = -6$. Unit "
        "$j$ reaches unit 1 only after $j-1$ steps, so a truncated gradient sees the positive influences "
        "first. Two truncations differ here: a **sliding window** (every loss sees exactly $K$ steps back, "
        "BPTT($K$;1) of Williams & Peng) has the wrong sign for $K \\le 40$; **chunked** truncation (cut "
        "every $K$ steps, as the book's regular truncation and the Train page do) has it wrong on average "
        "over a chunk for $K \\le 109$."
    )
)
task = InfluenceBalancing()
left, right = st.columns([1, 3])
with left:
    K = st.slider(_("Truncation K"), 1, 150, 10, key="theory_ib_k")
    ib_pi = st.select_slider(
        _("π (randomized)"), options=[0.9, 0.95, 0.99, 0.995], value=0.99, key="theory_ib_pi"
    )
    st.metric(
        _("Sliding window ds¹/dθ"),
        f"{task.truncated_sensitivity(K):+.2f}",
        help=_("the true value is −6"),
    )
    st.metric(
        _("Chunked ds¹/dθ (chunk mean)"),
        f"{task.chunked_sensitivity(K):+.2f}",
        help=_("the true value is −6"),
    )
with right:
    try:
        Ks, sliding, chunked = sensitivities(150)
        a, b = st.columns(2)
        a.plotly_chart(
            charts.truncation_sensitivity_chart(
                Ks, {_("sliding window, K"): sliding, _("chunked, K"): chunked}, task.true_sensitivity()
            ),
            key="theory_ib_sens",
        )
        trajectories = {
            _("full BPTT"): influence_run("full", 0, 1.0),
            _("sliding window, K={K}").format(K=K): influence_run("sliding", K, 1.0),
            _("chunked, K={K}").format(K=K): influence_run("regular", K, 1.0),
        }
        b.plotly_chart(charts.theta_chart(trajectories, -1 / 6), key="theory_ib_theta")
    except Exception:
        log.exception("influence balancing failed")
        st.error(_("The influence-balancing demo could not be drawn. Details are in the server log."))

st.markdown(
    _(
        "**Randomized truncation is unbiased here, and can still diverge.** With a constant π, "
        "$E[z^1] = -6$ for every π, but the standard deviation of $z^1$ is about 7.7, 11.5, 41 and 119 at "
        "π = 0.995, 0.99, 0.95 and 0.9 (computed exactly from the moment recursion). With the task's step "
        "size, SGD converges at π = 0.99 and 0.995 and diverges at π = 0.95 and 0.9, for each of the seeds "
        "below: the failure is variance, not bias. A finite variance needs roughly $\\pi > \\rho(A)^2$ "
        "(Tallec & Ollivier 2017; here $\\rho(A)^2 = 0.25$, so all four qualify): finite is necessary, "
        "not sufficient, for a given step size."
    )
)
try:
    mean, sd = task.randomized_moments(ib_pi)
    st.caption(
        _("π = {pi:g}: E[z¹] = {mean:.2f}, standard deviation {sd:.1f}.").format(pi=ib_pi, mean=mean, sd=sd)
    )
    seeds = {
        _("randomized π={pi:g}, seed {seed}").format(pi=ib_pi, seed=s): influence_run(
            "randomized", 0, ib_pi, s
        )
        for s in IB_SEEDS
    }
    diverged = sum(bool(np.isnan(t[-1])) for t in seeds.values())
    st.plotly_chart(charts.theta_chart(seeds, -1 / 6), key="theory_ib_seeds")
    st.caption(
        _("{k} of {n} seeds diverged (a line that stops has diverged: |θ| passed 1000).").format(
            k=diverged, n=len(IB_SEEDS)
        )
    )
except Exception:
    log.exception("influence balancing seeds failed")
    st.error(_("The influence-balancing demo could not be drawn. Details are in the server log."))
