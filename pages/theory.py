"""The section's key equations (d2l §8.7), and what a π_t schedule does to one window."""

import logging

import numpy as np
import streamlit as st

from bptt import charts
from bptt.analysis import InfluenceBalancing, train_theta
from bptt.truncation import ARTBPPi, ConstantPi
from pages import ensure_router

log = logging.getLogger("bptt_lab.theory")

ensure_router()


@st.cache_data(max_entries=64)
def influence_run(truncation: str, k: int, pi: float, steps: int = 4000) -> np.ndarray:
    """θ over online SGD on influence balancing (cached: the same sliders give the same curve)."""
    return train_theta(
        InfluenceBalancing(), steps, truncation=truncation, k=max(k, 1), schedule=ConstantPi(pi)
    )


st.title("The equations")
st.caption("d2l §8.7 (English edition §9.7), with the known errata marked")

st.subheader("Why the gradient is hard")
st.markdown(
    "With $h_t = f(x_t, h_{t-1}, w_h)$, the hidden state depends on $w_h$ directly and through $h_{t-1}$:"
)
st.latex(
    r"\frac{\partial h_t}{\partial w_h} = \frac{\partial f(x_t,h_{t-1},w_h)}{\partial w_h}"
    r" + \frac{\partial f(x_t,h_{t-1},w_h)}{\partial h_{t-1}}\,\frac{\partial h_{t-1}}{\partial w_h}"
)
st.markdown("For the linear RNN of §8.7.2 the gradient reaching $h_t$ is a sum of powers of $W_{hh}^\\top$:")
st.latex(
    r"\frac{\partial L}{\partial h_t} = W_{hh}^\top \frac{\partial L}{\partial h_{t+1}}"
    r" + W_{qh}^\top \frac{\partial L}{\partial o_t}"
    r" = \sum_{i=t}^{T} \left(W_{hh}^\top\right)^{T-i} W_{qh}^\top \frac{\partial L}{\partial o_{T+t-i}}"
)
st.markdown(
    "Eigenvalues of $W_{hh}$ below 1 in magnitude vanish in those powers, above 1 they explode: the "
    "vanishing and exploding gradient."
)

st.subheader("Randomized truncation (Tallec & Ollivier 2017)")
st.latex(
    r"P(\xi_t = 0) = 1-\pi_t,\quad P\!\left(\xi_t = \tfrac{1}{\pi_t}\right) = \pi_t"
    r"\quad\Longrightarrow\quad E[\xi_t] = 1"
)
st.latex(
    r"z_t = \frac{\partial f(x_t,h_{t-1},w_h)}{\partial w_h}"
    r" + \xi_t\,\frac{\partial f(x_t,h_{t-1},w_h)}{\partial h_{t-1}}\,\frac{\partial h_{t-1}}{\partial w_h},"
    r"\qquad E[z_t] = \frac{\partial h_t}{\partial w_h}"
)
st.info(
    "Errata of the Chinese text: it prints $P(\\xi_t = \\pi_t^{-1} = \\pi_t)$ for "
    "$P(\\xi_t = 1/\\pi_t) = \\pi_t$, and $E|\\xi_t| = \\partial h_t/\\partial w_h$ for "
    "$E[z_t] = \\partial h_t/\\partial w_h$. Unbiasedness of the recursive $z_t$ also needs each $\\xi_t$ "
    "drawn independently of the data and of the later $\\xi$.",
    icon=":material/edit_note:",
)

st.subheader("What a schedule does to one window")
left, right = st.columns([1, 3])
with left:
    kind = st.radio("π_t schedule", ["constant", "ARTBP"], horizontal=True, key="theory_kind")
    num_steps = st.slider("num_steps", 5, 200, 35, key="theory_num_steps")
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
        st.error("The preview could not be drawn for these values.")

st.subheader("A task where truncation is provably wrong")
st.markdown(
    "*Influence balancing* (Tallec & Ollivier, ICLR 2018): 23 units, $s_t = A s_{t-1} + \\theta v$ with "
    "$A = 0.5\\,I + 0.5\\,$(superdiagonal), $v = +1$ on 10 units and $-1$ on 13, loss "
    "$\\tfrac12 (s^1_t - 1)^2$ on the first unit. Unit $j$ reaches unit 1 only after $j-1$ steps, so a "
    "gradient truncated to $K$ steps sees the positive influences first and gets the sign wrong for "
    "$K \\le 40$. The book's unbiased randomized truncation converges, when its variance is tame."
)
task = InfluenceBalancing()
left, right = st.columns([1, 3])
with left:
    K = st.slider("Truncation K", 1, 80, 10, key="theory_ib_k")
    ib_pi = st.slider("π (randomized)", 0.90, 1.0, 0.99, 0.005, key="theory_ib_pi", format="%.3f")
    st.metric("Truncated ds¹/dθ", f"{task.truncated_sensitivity(K):+.2f}", help="the true value is −6")
with right:
    try:
        Ks = np.arange(1, 81)
        sens = np.array([task.truncated_sensitivity(int(k)) for k in Ks])
        trajectories = {
            "full BPTT": influence_run("full", 0, 1.0),
            f"truncated, K={K}": influence_run("sliding", K, 1.0),
            f"randomized, π={ib_pi:g}": influence_run("randomized", 0, ib_pi),
        }
        a, b = st.columns(2)
        a.plotly_chart(charts.sensitivity_chart(Ks, sens, task.true_sensitivity()), key="theory_ib_sens")
        b.plotly_chart(charts.theta_chart(trajectories, -1 / 6), key="theory_ib_theta")
    except Exception:
        log.exception("influence balancing failed")
        st.error("The influence-balancing demo could not be drawn. Details are in the server log.")
