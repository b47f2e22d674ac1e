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

with st.expander("中文简介"):
    st.markdown(
        """
循环神经网络对隐藏层权重的梯度是对所有更早时间步的求和，其中 $W_{hh}^\\top$ 的连乘可能消失或爆炸。
本节给出三种计算方式：**完全计算**（full）、**常规截断**（regular，每 $k$ 步截断，书中实验的做法）和
**随机截断**（randomized，以概率 $1-\\pi_t$ 截断，并把保留的部分乘以 $1/\\pi_t$，使估计在期望上无偏）。

在“Train”页面，你可以用三种方式训练书中的字符级 RNN（《时间机器》、莎士比亚，或你上传的文本；中文文本请选
“every character” 分词），实时观察损失、困惑度、裁剪前后的梯度范数、$\\lVert\\partial L/\\partial h_t\\rVert$
热力图、$W_{hh}$ 的谱范数、当前小批量中截断的位置，以及模型生成的文本。“Theory” 页面给出本节公式、中文版
勘误，以及一个截断必然出错的例子（influence balancing）。
"""
    )

st.page_link("pages/train.py", label="Open the training page", icon=":material/model_training:")
st.page_link("pages/theory.py", label="The equations", icon=":material/functions:")
