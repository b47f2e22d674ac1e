"""Synthetic tasks where the answer is known: delayed recall, and influence balancing
(Tallec & Ollivier 2017), where truncation is provably wrong."""
