"""Where the gradient is cut in one window: the rows of the book's three-row figure (d2l §8.7.1.4,
Fig. 8.7.1: randomized, regular and full truncation over the same text), for `charts.segmentation_strip`.
"""

from __future__ import annotations

import numpy as np

from .config import RunConfig
from .i18n import _
from .truncation import Full, Regular


def segmentation_rows(cfg: RunConfig, xi: np.ndarray) -> dict[str, np.ndarray]:
    """Rows for `charts.segmentation_strip`: this run's gates xi (T,), then regular (k) and full over the
    same window for comparison; a comparison row that repeats this run's own strategy is left out. The
    row names are in the current language (they label the chart's rows)."""
    xi = np.asarray(xi, dtype=np.float64).ravel()
    T = len(xi)
    rows = {_("this run: {truncation}").format(truncation=cfg.describe_truncation()): xi}
    if cfg.truncation != "regular":
        rows[_("regular (k={k})").format(k=cfg.k)] = Regular(cfg.k).gates(1, T)[:, 0].numpy()
    if cfg.truncation != "full":
        rows[_("full")] = Full().gates(1, T)[:, 0].numpy()
    return rows
