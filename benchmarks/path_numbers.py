"""The guided path's numbers at its default settings (pages/ui/path.py DEFAULTS), as README quotes them,
written to benchmarks/path_numbers.json and printed: for each step the figure's headline value, computed
by the same library calls as the page (bptt.path.recursion, bptt.path.powers, bptt.segmentation).

    python benchmarks/path_numbers.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bptt.path import powers, recursion  # noqa: E402
from bptt.segmentation import TIME_MACHINE_OPENING, book_figure_rows  # noqa: E402
from pages.ui.path import DEFAULTS  # noqa: E402
from pages.ui.path_powers import K  # noqa: E402
from pages.ui.path_steps import DRAWS, T  # noqa: E402


def main() -> dict:
    d = DEFAULTS
    rnn = recursion.ScalarRNN(d["ui_path_w"], recursion.default_inputs(T), activation="tanh")
    full = recursion.gradient_path(rnn)
    nudged = recursion.gradient_path(recursion.ScalarRNN(rnn.w * 1.01, rnn.x, rnn.h0, rnn.activation))
    draws = recursion.randomized_draws(rnn, d["ui_path_pi"], DRAWS)
    lams = powers.eigenvalues(d["ui_path_lambda1"], d["ui_path_lambda2"])
    W, V = powers.symmetric_matrix(lams)
    xs = np.random.default_rng(0).standard_normal((20, len(lams)))
    cos, _tan = powers.alignment(W, V[:, 0], xs, K)
    rows = book_figure_rows(len(TIME_MACHINE_OPENING), d["ui_path_pi"], d["ui_path_tau"], d["ui_path_draw"])
    return {
        "defaults": d,
        "recursion_dhT_dw": float(full[-1]),
        "full_change_for_1pct_w": float(abs(nudged[-1] - full[-1]) / abs(full[-1])),
        "regular_relative_error_at_tau": float(
            abs(recursion.truncated_gradient(rnn, d["ui_path_tau"]) - full[-1]) / abs(full[-1])
        ),
        "randomized_mean": float(draws.mean()),
        "randomized_relative_sd": float(draws.std(ddof=1) / abs(full[-1])),
        "fig_8_7_1_segments": {name: int((xi == 0).sum()) for name, xi in rows.items()},
        "power_norm_at_K": float(powers.power_norms(W, K)[-1]),
        "tanh_jacobian_norm_at_K": float(powers.jacobian_norms(W, K, "tanh")[-1]),
        "K": K,
        "exercise1_median_cos_at_K": float(np.median(cos[:, -1])),
    }


if __name__ == "__main__":
    text = json.dumps(main(), indent=1, ensure_ascii=False)
    (ROOT / "benchmarks" / "path_numbers.json").write_text(text + "\n")
    print(text)
