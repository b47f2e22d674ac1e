"""The guided path's numerics (d2l §8.7.1 the recursion, §8.7.2 the powers of W_hh)."""
