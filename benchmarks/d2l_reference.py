"""The book's two training loops, re-implemented faithfully as the speed reference (d2l §8.5, §8.6).

Nothing here is the project's code: the model, the loss, clipping and the update are the book's own
lines (PyTorch edition), so that a benchmark can time the book's loop and the project's Trainer in the
same run on the same machine.

    §8.5 from scratch: get_params (W_xh, W_hh, b_h, W_hq, b_q ~ N(0, 0.01^2), biases 0), rnn() with
         tanh and F.one_hot inputs, autograd, grad_clipping(theta=1), d2l.sgd(lr=1) via updater(batch_size=1)
    §8.6 concise:      RNNModel(nn.RNN(V, H), V) with nn.Linear, torch.optim.SGD(lr=1), same loop

The loop is train_epoch_ch8 with the sequential sampler: the state starts at zeros at each epoch's first
minibatch and is detached (not reset) between minibatches; loss = CrossEntropyLoss (the mean).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from bptt.data import seq_data_iter_sequential


# --- d2l §8.5 -------------------------------------------------------------------------------------
def get_params(vocab_size: int, num_hiddens: int, device) -> list[torch.Tensor]:
    num_inputs = num_outputs = vocab_size

    def normal(shape):
        return torch.randn(size=shape, device=device) * 0.01

    W_xh = normal((num_inputs, num_hiddens))
    W_hh = normal((num_hiddens, num_hiddens))
    b_h = torch.zeros(num_hiddens, device=device)
    W_hq = normal((num_hiddens, num_outputs))
    b_q = torch.zeros(num_outputs, device=device)
    params = [W_xh, W_hh, b_h, W_hq, b_q]
    for param in params:
        param.requires_grad_(True)
    return params


def init_rnn_state(batch_size: int, num_hiddens: int, device):
    return (torch.zeros((batch_size, num_hiddens), device=device),)


def rnn(inputs, state, params):
    W_xh, W_hh, b_h, W_hq, b_q = params
    (H,) = state
    outputs = []
    for X in inputs:  # inputs: (num_steps, batch_size, vocab_size)
        H = torch.tanh(torch.mm(X, W_xh) + torch.mm(H, W_hh) + b_h)
        Y = torch.mm(H, W_hq) + b_q
        outputs.append(Y)
    return torch.cat(outputs, dim=0), (H,)


class RNNModelScratch:
    """d2l §8.5.3."""

    def __init__(self, vocab_size, num_hiddens, device, get_params, init_state, forward_fn):
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.params = get_params(vocab_size, num_hiddens, device)
        self.init_state, self.forward_fn = init_state, forward_fn

    def __call__(self, X, state):
        X = F.one_hot(X.T, self.vocab_size).type(torch.float32)
        return self.forward_fn(X, state, self.params)

    def begin_state(self, batch_size, device):
        return self.init_state(batch_size, self.num_hiddens, device)


def sgd(params, lr, batch_size):
    """d2l §3.2's minibatch SGD."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


# --- d2l §8.6 -------------------------------------------------------------------------------------
class RNNModel(nn.Module):
    """d2l §8.6.2."""

    def __init__(self, rnn_layer, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.num_hiddens = self.rnn.hidden_size
        self.num_directions = 1
        self.linear = nn.Linear(self.num_hiddens, self.vocab_size)

    def forward(self, inputs, state):
        X = F.one_hot(inputs.T.long(), self.vocab_size)
        X = X.to(torch.float32)
        Y, state = self.rnn(X, state)
        output = self.linear(Y.reshape((-1, Y.shape[-1])))
        return output, state

    def begin_state(self, device, batch_size=1):
        return torch.zeros(
            (self.num_directions * self.rnn.num_layers, batch_size, self.num_hiddens), device=device
        )


# --- d2l §8.5.5-8.5.6 -------------------------------------------------------------------------------
def grad_clipping(net, theta):
    if isinstance(net, nn.Module):  # noqa: SIM108 (the book's lines)
        params = [p for p in net.parameters() if p.requires_grad]
    else:
        params = net.params
    norm = torch.sqrt(sum(torch.sum(p.grad**2) for p in params))
    if norm > theta:
        for param in params:
            param.grad[:] *= theta / norm


class BookLoop:
    """train_ch8 / train_epoch_ch8 (sequential sampler, use_random_iter=False), run for a time budget.

    kind 'scratch' is §8.5 (updater(batch_size=1) -> d2l.sgd), 'concise' is §8.6 (torch.optim.SGD).
    Epochs follow one another as in train_ch8; `run_for` stops after the minibatch that crosses the
    time budget and returns the tokens trained.
    """

    def __init__(self, kind: str, corpus: list[int], vocab_size: int, num_hiddens: int, *, seed: int = 0,
                 batch_size: int = 32, num_steps: int = 35, lr: float = 1.0) -> None:  # fmt: skip
        torch.manual_seed(seed)
        self.kind, self.corpus, self.batch_size, self.num_steps = kind, corpus, batch_size, num_steps
        self.device = torch.device("cpu")
        if kind == "scratch":
            self.net = RNNModelScratch(vocab_size, num_hiddens, self.device, get_params, init_rnn_state, rnn)
            self.updater = lambda batch_size: sgd(self.net.params, lr, batch_size)
        elif kind == "concise":
            self.net = RNNModel(nn.RNN(vocab_size, num_hiddens), vocab_size).to(self.device)
            self.updater = torch.optim.SGD(self.net.parameters(), lr)
        else:
            raise ValueError(f"kind must be 'scratch' or 'concise', got {kind!r}")
        self.loss = nn.CrossEntropyLoss()
        self.rng = np.random.default_rng(seed)
        self._iter = None
        self.state = None
        self.metric = [0.0, 0]  # d2l.Accumulator(2): loss sum, tokens

    def _batch(self):
        while True:
            if self._iter is None:  # a new epoch: train_epoch_ch8 starts with state = None
                self._iter = seq_data_iter_sequential(self.corpus, self.batch_size, self.num_steps, self.rng)
                self.state, self.metric = None, [0.0, 0]
            batch = next(self._iter, None)
            if batch is not None:
                return batch
            self._iter = None

    def train_batch(self) -> int:
        """One minibatch of train_epoch_ch8, line for line."""
        net, updater, device = self.net, self.updater, self.device
        X, Y = self._batch()
        if self.state is None:
            self.state = net.begin_state(batch_size=X.shape[0], device=device)
        else:
            if isinstance(net, nn.Module) and not isinstance(self.state, tuple):
                self.state.detach_()  # state is a tensor for nn.RNN
            else:
                for s in self.state:
                    s.detach_()
        y = Y.T.reshape(-1)
        X, y = X.to(device), y.to(device)
        y_hat, self.state = net(X, self.state)
        l = self.loss(y_hat, y.long()).mean()  # noqa: E741 (the book's name)
        if isinstance(updater, torch.optim.Optimizer):
            updater.zero_grad()
            l.backward()
            grad_clipping(net, 1)
            updater.step()
        else:
            l.backward()
            grad_clipping(net, 1)
            updater(batch_size=1)  # the mean has been taken already
        self.metric[0] += float(l.detach() * y.numel())  # Accumulator.add(l * numel, numel)
        self.metric[1] += y.numel()
        return y.numel()

    def perplexity(self) -> float:
        return math.exp(self.metric[0] / self.metric[1]) if self.metric[1] else math.nan

    def run_for(self, seconds: float) -> int:
        tokens, deadline = 0, time.perf_counter() + seconds
        while True:
            tokens += self.train_batch()
            if time.perf_counter() >= deadline:
                return tokens
