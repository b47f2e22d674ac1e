"""The book's character-level RNN, written from scratch (d2l §8.5).

    H_t = tanh(X_t W_xh + H_{t-1} W_hh + b_h)      # (B, H)
    O_t = H_t W_hq + b_q                           # (B, V)

with one-hot inputs, so `X_t W_xh` is a row lookup in `W_xh`. The forward pass here builds no autograd
graph: the gradient is computed by the explicit BPTT recursion in `bptt.truncation`, which is what lets
each strategy gate the recurrent edge per step and per row. Tests check it against autograd on the
plainly unrolled graph.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .device import resolve_device  # re-exported: bptt.model.resolve_device


class CharRNN(nn.Module):
    """The from-scratch RNN of d2l §8.5, parameters named and shaped as the book.

    `activation="identity"` and `bias=False` give the simplified model of §8.7.2, whose gradients the
    book writes in closed form.
    """

    def __init__(
        self,
        vocab_size: int,
        num_hiddens: int,
        *,
        activation: str = "tanh",
        bias: bool = True,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if activation not in ("tanh", "identity"):
            raise ValueError(f"activation must be 'tanh' or 'identity', got {activation!r}")
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.activation, self.bias = activation, bias
        dev = resolve_device(device)

        def normal(*shape: int) -> nn.Parameter:  # the book: N(0, 0.01^2)
            w = torch.randn(*shape, generator=generator, dtype=dtype) * 0.01
            return nn.Parameter(w.to(dev))

        V, H = vocab_size, num_hiddens
        self.W_xh = normal(V, H)  # (V, H)
        self.W_hh = normal(H, H)  # (H, H)
        self.W_hq = normal(H, V)  # (H, V)
        # Biases are zeros; the bias-free model keeps them as zero tensors that receive no gradient.
        self.b_h = nn.Parameter(torch.zeros(H, dtype=dtype, device=dev), requires_grad=bias)  # (H,)
        self.b_q = nn.Parameter(torch.zeros(V, dtype=dtype, device=dev), requires_grad=bias)  # (V,)

    @property
    def device(self) -> torch.device:
        return self.W_hh.device

    def begin_state(self, batch_size: int) -> torch.Tensor:
        """Zeros, as d2l's init_rnn_state."""
        return torch.zeros(batch_size, self.num_hiddens, device=self.device, dtype=self.W_hh.dtype)

    @torch.no_grad()
    def hidden_states(
        self, X: torch.Tensor, state: torch.Tensor | None = None, *, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Every hidden state of the window, time-major: returns (T, B, H); state is h_0.

        `out`, if given, is a (T, B, H) buffer of the model's dtype to write the states into (the BPTT
        recursion reuses one per window shape instead of allocating it at every minibatch)."""
        B, T = X.shape
        h = self.begin_state(B) if state is None else state.to(self.device, self.W_hh.dtype)
        # Input term for all steps at once: one-hot x_t times W_xh is row x_t of W_xh.
        # With the bias added to the V rows first (the same sums, element by element, as adding it to
        # the T*B rows after the lookup).
        idx = X.T.reshape(-1).to(self.device)
        table = self.W_xh + self.b_h if self.bias else self.W_xh  # (V, H)
        if out is None:
            Hs = table[idx].view(T, B, self.num_hiddens)  # (T, B, H)
        else:
            Hs = out
            torch.index_select(table, 0, idx, out=Hs.view(T * B, self.num_hiddens))
        W_hh, tanh = self.W_hh, self.activation == "tanh"
        for h_t in Hs.unbind(0):  # views of Hs, one per step: no indexing in the loop
            h_t.addmm_(h, W_hh)  # a_t = x_t W_xh + b_h + h_{t-1} W_hh, in place
            h = h_t.tanh_() if tanh else h_t  # h_t
        return Hs

    @torch.no_grad()
    def forward(
        self, X: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (T*B, V), time-major as d2l's rnn(), and the last state (B, H)."""
        Hs = self.hidden_states(X, state)
        T, B, H = Hs.shape
        return self.output(Hs.reshape(T * B, H)), Hs[-1].clone()

    def output(self, Hflat: torch.Tensor) -> torch.Tensor:
        """O = H W_hq + b_q for stacked states (N, H) -> (N, V)."""
        return torch.addmm(self.b_q, Hflat, self.W_hq) if self.bias else Hflat @ self.W_hq

    @torch.no_grad()
    def predict(
        self,
        prefix: str,
        num_preds: int,
        vocab,
        *,
        tokenize: Callable[[str], list[str]] = list,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> str:
        """Continue `prefix` by `num_preds` tokens (d2l's predict_ch8).

        temperature 0 is the book's greedy argmax; > 0 samples from softmax(o / temperature).
        """
        tokens = tokenize(prefix) or [vocab.idx_to_token[0]]
        outputs = [vocab[tokens[0]]]
        state = self.begin_state(1)
        for y in tokens[1:]:  # warm-up: feed the prefix
            _, state = self(torch.tensor([[outputs[-1]]]), state)
            outputs.append(vocab[y])
        for _ in range(num_preds):
            logits, state = self(torch.tensor([[outputs[-1]]]), state)
            if temperature > 0:
                scaled = logits[0].double().cpu() / temperature
                scaled[0] = -math.inf  # never sample <unk>: it is not a character to show
                probs = torch.softmax(scaled, dim=0)
                outputs.append(int(torch.multinomial(probs, 1, generator=generator)))
            else:
                outputs.append(int(logits[0].argmax()))
        return "".join(vocab.idx_to_token[i] for i in outputs)
