"""Landing page: what BPTT Lab is, in a few lines."""

import streamlit as st

from pages import ensure_router

ensure_router()

st.title("BPTT Lab")
st.caption(
    "Backpropagation through time, *Dive into Deep Learning* §8.7 · 《动手学深度学习》8.7 通过时间反向传播"
)

st.markdown(
    """
An RNN's gradient with respect to its hidden weights is a sum over every earlier time step, a chain of
products of $W_{hh}^\\top$ that can vanish or explode. The section offers three ways to compute it:

- **full**: the whole sum (slow, and the gradient can explode);
- **regular** truncation: cut the chain every $k$ steps (what the book's experiments do);
- **randomized** truncation (Tallec & Ollivier 2017): cut at random, with probability $1-\\pi_t$, and
  weight the survivors by $1/\\pi_t$ so that the estimate is right on average.

On the training page you train the book's character-level RNN on *The Time Machine* (or Shakespeare, or
your own text) with any of the three, and watch it learn: loss and perplexity, the gradient norm before and
after clipping, $\\lVert\\partial L/\\partial h_t\\rVert$ across the window, the spectral norm of $W_{hh}$,
where the cuts fall in the current minibatch, and the text the model writes. Runs sit side by side, so
*full vs regular vs randomized* is three runs and one glance.
"""
)

st.page_link("pages/train.py", label="Open the training page", icon=":material/model_training:")
st.page_link("pages/theory.py", label="The equations", icon=":material/functions:")
