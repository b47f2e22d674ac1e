"""Where the gradient is cut in one window: the rows of the book's three-row figure (d2l §8.7.1.4,
Fig. 8.7.1: randomized, regular and full truncation over the same text), and the segments and
compensation weights those cuts make; `charts.train.segmentation_strip` draws them.
"""

from __future__ import annotations

import numpy as np
import torch

from .config import RunConfig
from .i18n import _
from .truncation import ConstantPi, Full, Randomized, Regular, Strategy


def segmentation_rows(cfg: RunConfig, xi: np.ndarray) -> dict[str, np.ndarray]:
    """Rows for `charts.segmentation_strip`: this run's gates xi (T,), then regular (k) and full over the
    same window for comparison; a comparison row that repeats this run's own strategy is left out. The
    row names are in the current language (they label the chart's rows)."""
    xi = np.asarray(xi, dtype=np.float64).ravel()
    T = len(xi)
    this = Strategy.of_config(cfg)
    rows = {_("this run: {truncation}").format(truncation=this.title()): xi}
    for other in (Strategy("regular", k=cfg.k), Strategy("full")):
        if other.kind != this.kind:
            rows[other.title()] = other.gates(T).gates(1, T)[:, 0].numpy()
    return rows


# The first words of *The Time Machine*, as the book prepares the text (letters and spaces, lower case):
# the text the book's Fig. 8.7.1 is drawn over.
TIME_MACHINE_OPENING = "the time traveller for so it will be convenient to speak of him"


def book_figure_rows(num_steps: int, pi: float, k: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Fig. 8.7.1's three rows over one window of num_steps, in the book's order: one draw of randomized
    truncation with constant pi (seeded), regular truncation every k steps, full computation. Row names
    in the current language; each row is the gates xi (num_steps,) of the library's own strategy."""
    generator = torch.Generator().manual_seed(int(seed))
    randomized = Randomized(ConstantPi(pi)).gates(1, num_steps, generator)[:, 0].numpy()
    return {
        _("randomized truncation (π={pi})").format(pi=f"{pi:g}"): randomized,
        _("regular truncation (k={k})").format(k=k): Regular(k).gates(1, num_steps)[:, 0].numpy(),
        _("full computation"): Full().gates(1, num_steps)[:, 0].numpy(),
    }


def segment_weights(xi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For gates xi (T,), per position t: (segment index, segment length, compensation weight).

    A segment starts at each cut (xi_t == 0; t = 0 always is, the window boundary). The weight at t is
    the product of xi over the edges from the segment's start to t, the factor that multiplies the
    gradient flowing from step t back to the segment's start: 1/(π...π) for randomized truncation, 1 for
    regular and full. E.g. xi = [0, 1, 1, 0, 2, 2] -> ([0,0,0,1,1,1], [3,3,3,3,3,3], [1,1,1,1,2,4])."""
    xi = np.asarray(xi, dtype=np.float64).ravel()
    if xi.size == 0:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0)
    cut = xi == 0
    cut[0] = True
    seg = np.cumsum(cut) - 1  # (T,)
    length = np.bincount(seg)[seg]  # (T,)
    factors = np.where(cut, 1.0, xi)  # the start's own (cut) edge does not count
    starts = np.flatnonzero(cut)
    weight = np.concatenate([np.cumprod(f) for f in np.split(factors, starts[1:])])
    return seg, length, weight
