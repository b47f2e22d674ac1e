"""The guided path's steps on the powers of W_hh: d2l §8.7.2 and the section's two exercises, with a
symmetric 16-unit W_hh whose two largest eigenvalues and activation are the reader's to move (as
TensorFlow Playground lets a student move a network's settings). Numbers from bptt.path.powers."""

from __future__ import annotations

import numpy as np
import streamlit as st

from bptt.charts import path as path_charts
from bptt.i18n import _
from bptt.path import powers

from .path import lab_button, look_for, train_button

K = 60  # steps back in the powers of W_hh
TRUNC_K = 10  # the truncation shown among exercise 2's remedies


def _matrix_controls(tanh: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sliders for W_hh's two largest eigenvalues and tanh; (eigenvalues, W_hh, its eigenvectors)."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.slider(
            "λ₁",
            0.5,
            1.5,
            step=0.01,
            key="ui_path_lambda1",
            width=260,
            help=_("The largest eigenvalue of the symmetric W_hh."),
        )
        st.slider(
            "λ₂",
            -1.5,
            1.5,
            step=0.01,
            key="ui_path_lambda2",
            width=260,
            help=_("The second; the other 14 lie within 0.9 |λ₂| of 0."),
        )
        if tanh:  # the exercises are about the matrix alone
            st.toggle(_("tanh (off: the linear RNN of (8.7.9))"), key="ui_path_tanh")
    ss = st.session_state
    lams = powers.eigenvalues(float(ss["ui_path_lambda1"]), float(ss["ui_path_lambda2"]))
    W, V = powers.symmetric_matrix(lams)
    return lams, W, V


def powers_step() -> None:
    st.markdown(
        _(
            "For the linear RNN without bias (8.7.9) the gradient of the hidden state is a recursion "
            "whose solution holds powers of $W_{hh}^\\top$:"
        )
    )
    st.latex(
        r"\frac{\partial L}{\partial h_t} = W_{hh}^\top \frac{\partial L}{\partial h_{t+1}}"
        r" + W_{qh}^\top \frac{\partial L}{\partial o_t}\qquad(8.7.14)"
    )
    st.latex(
        r"\frac{\partial L}{\partial h_t} = \sum_{i=t}^{T}\left(W_{hh}^\top\right)^{T-i} W_{qh}^\top"
        r"\frac{\partial L}{\partial o_{T+t-i}}\qquad(8.7.15)"
    )
    lams, W, _V = _matrix_controls()
    k = np.arange(K + 1)
    power = powers.power_norms(W, K)
    tanh = st.session_state["ui_path_tanh"]
    jac = powers.jacobian_norms(W, K, "tanh") if tanh else None
    st.plotly_chart(path_charts.powers_figure(k, power, jac), key="chart_path_powers")
    a, b = st.columns(2)
    a.metric(_("‖(W_hhᵀ)^{k}‖₂").format(k=K), f"{power[-1]:.3g}")
    if jac is not None:
        b.metric(_("‖∂h_t/∂h_(t−{k})‖₂ with tanh").format(k=K), f"{jac[-1]:.3g}")
    look_for(
        _(
            "Move λ₁ across 1: the powers vanish below it and explode above it, as |λ₁|^k. With tanh "
            "the factors f′ ≤ 1 pull the Jacobian down: large weights saturate tanh and the gradient "
            "still vanishes."
        )
    )
    lab_button(_("Measure how far the gradient travels in the book's RNN (Gradient lab)"), "powers")


def exercise1_step() -> None:
    st.markdown(
        _(
            "**Exercise 1.** Let $M$ be symmetric with eigenvalues $\\lambda_i$, "
            "$|\\lambda_i| \\ge |\\lambda_{i+1}|$, and eigenvectors $v_i$. (a) $M^k$ has eigenvalues "
            "$\\lambda_i^k$. (b) For a random $x$, $M^k x$ is with high probability very much aligned "
            "with $v_1$. (c) What does this mean for gradients in RNNs?"
        )
    )
    st.latex(
        r"x = \sum_i c_i v_i \;\Rightarrow\; M^k x = \sum_i c_i \lambda_i^k v_i,\qquad"
        r"\tan\theta_k \le \left(\frac{|\lambda_2|}{|\lambda_1|}\right)^{k}\tan\theta_0"
    )
    lams, W, V = _matrix_controls(tanh=False)
    xs = np.random.default_rng(0).standard_normal((20, len(lams)))
    top = int(np.argmax(np.abs(lams)))  # v₁ of the exercise: the eigenvector of the largest |λ|
    cos, tan = powers.alignment(W, V[:, top], xs, K)
    bound = powers.alignment_bound(lams, K)
    st.plotly_chart(
        path_charts.alignment_figure(np.arange(K + 1), cos, tan / tan[:, :1], bound),
        key="chart_path_exercise1",
    )
    st.metric(_("median |cos(M^k x, v₁)| at k = {k}").format(k=K), f"{np.median(cos[:, -1]):.4f}")
    look_for(
        _(
            "Every random x turns towards v₁ at the rate |λ₂/λ₁|; it fails only when x has no "
            "component along v₁, which a random x has with probability 0. (c) The gradient sent k "
            "steps back is (W_hhᵀ)^k times a vector: far back it points along v₁ whatever the loss "
            "was, and its size is |λ₁|^k."
        )
    )
    lab_button(_("See the eigenvalues of the book's W_hh (Gradient lab)"), "exercise1")


def exercise2_step() -> None:
    st.markdown(
        _(
            "**Exercise 2.** Besides gradient clipping, what other ways are there to cope with "
            "exploding gradients in RNNs?"
        )
    )
    st.markdown(
        "\n".join(
            [
                _(
                    "- truncation, regular or randomized (§8.7.1): no gradient from further back than "
                    "the cut;"
                ),
                _(
                    "- keeping W_hh's largest singular value at most 1: spectral normalization, or "
                    "orthogonal weights, whose powers keep norm 1;"
                ),
                _(
                    "- a smaller learning rate, and the gated cells of the next chapter (GRU, LSTM), whose "
                    "gradient path is additive rather than a product of W_hh."
                ),
            ]
        )
    )
    st.latex(r"\left\|\left(W_{hh}^\top\right)^k\right\|_2 \le \sigma_{\max}(W_{hh})^k")
    _lams, W, _V = _matrix_controls(tanh=False)
    curves = powers.remedies(W, K, TRUNC_K)
    st.plotly_chart(path_charts.remedies_figure(np.arange(K + 1), curves), key="chart_path_exercise2")
    look_for(
        _(
            "Above λ₁ = 1 the plain powers explode; rescaled or orthogonal weights stay at or below "
            "1 and truncation stops the sum at k = 10. Clipping (§8.5) instead caps the norm of the "
            "whole gradient, after the fact: train without it to see why the book clips."
        )
    )
    train_button(_("Train the book's RNN without gradient clipping"), "exercise2", clip=0.0)
