"""Small float64 models for the gradient tests: weights drawn large enough that the recurrence matters
and gradients reach several steps back (at the default init they would vanish within a few)."""

from __future__ import annotations

import torch

import bptt


def float64_rnn(vocab: int, hiddens: int, activation="tanh", bias=True, scale=0.6, seed=0) -> bptt.CharRNN:
    g = torch.Generator().manual_seed(seed)
    model = bptt.CharRNN(vocab, hiddens, activation=activation, bias=bias, dtype=torch.float64, generator=g)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * scale)
    return model
