"""Landing page: what BPTT Lab is, in a few lines, in the reader's language."""

import streamlit as st

from bptt.i18n import _
from pages import ensure_router

ensure_router()

st.title("BPTT Lab")
st.caption(
    _(
        "Backpropagation through time, *Dive into Deep Learning* §9.7 of the English edition "
        "(§8.7 of the Chinese edition)"
    )
)

st.markdown(
    "\n".join(
        [
            _(
                "An RNN's gradient with respect to its hidden weights is a sum over every earlier time "
                "step, a chain of products of $W_{hh}^\\top$ that can vanish or explode. The section offers "
                "three ways to compute it:"
            )
            + "\n",
            _("- **full**: the whole sum (slow, and the gradient can explode);"),
            _("- **regular** truncation: cut the chain every $k$ steps (what the book's experiments do);"),
            _(
                "- **randomized** truncation (Tallec & Ollivier 2017): cut at random, with probability "
                "$1-\\pi_t$, and weight the survivors by $1/\\pi_t$ so that the estimate is right on average."
            ),
        ]
    )
)
st.markdown(
    _(
        "On the training page you train the book's character-level RNN on *The Time Machine* (or "
        "Shakespeare, or your own text: for Chinese text choose the 'every character' tokens) with any of "
        "the three, and watch it learn: loss and perplexity, the gradient norm before and after clipping, "
        "$\\lVert\\partial L/\\partial h_t\\rVert$ across the window, the spectral norm of $W_{hh}$, where "
        "the cuts fall in the current minibatch, and the text the model writes. Runs sit side by side, so "
        "*full vs regular vs randomized* is three runs and one glance. The Theory page gives the section's "
        "equations and an example where truncation is provably wrong (influence balancing)."
    )
)

st.page_link("pages/path.py", label=_("Follow §8.7 step by step: the guided path"), icon=":material/route:")
st.page_link("pages/train.py", label=_("Open the training page"), icon=":material/model_training:")
st.page_link("pages/theory.py", label=_("The equations"), icon=":material/functions:")
