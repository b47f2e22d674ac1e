"""Truncated backpropagation through time (d2l §8.7): what a strategy is (strategy.py: one grammar, one
key, one title), the gates it puts on the recurrent edge (gates.py), and the BPTT recursion that applies
them (backward.py)."""

from .backward import Backward, bptt, estimate_gradient
from .gates import ARTBPPi, ConstantPi, Full, Gates, LinearPi, Randomized, Regular, survival
from .strategy import GRAMMAR, Strategy

__all__ = [
    "ARTBPPi", "Backward", "ConstantPi", "Full", "GRAMMAR", "Gates", "LinearPi", "Randomized", "Regular",
    "Strategy", "bptt", "estimate_gradient", "survival",
]  # fmt: skip
