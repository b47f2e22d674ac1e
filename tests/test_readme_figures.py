"""README's figures say what the committed results files say, and those files still match the code.

- The Gradient lab table is benchmarks/lab_numbers.py's table of benchmarks/results/lab_numbers.json, row
  for row; the file's `check` block (the seeded initialisation on the bundled corpus) is recomputed here,
  so a change of code that moves the lab's exact numbers fails until the file is regenerated.
- The Compare figures (final perplexity mean ± sd, Holm-adjusted p-values) are recomputed from the shipped
  comparisons in bptt/results/ with the library's summary and verdict.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from bptt.compare import runner as compare
from bptt.truncation import Strategy

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LAB = ROOT / "benchmarks" / "results" / "lab_numbers.json"


def section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def test_readme_lab_speed_is_the_benchmark_file():
    bench = json.loads((ROOT / "benchmarks" / "results" / "bench_moments.json").read_text())["median_seconds"]
    text = " ".join(section("Gradient lab").split())
    for key in ("Gram", "+ randomized pi=0.5", "+ ARTBP T0=50"):
        assert f"{bench[key]:.2g} s" in text, f"README lacks {key}'s {bench[key]:.2g} s"


def lab_numbers_module():
    spec = importlib.util.spec_from_file_location("lab_numbers", ROOT / "benchmarks" / "lab_numbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_lab_table_is_the_results_file():
    module = lab_numbers_module()
    table = module.readme_table(module.read_results(LAB))
    text = section("Gradient lab")
    for row in table.splitlines():
        assert row in text, f"README's Gradient lab table lacks (or has a stale copy of) the row:\n{row}"


def test_lab_results_file_matches_this_code():
    """The results file's quick check block, recomputed: moves when the code's numbers move."""
    module = lab_numbers_module()
    want = module.read_results(LAB)["check"]
    got = module.check_numbers()
    assert got["share_beyond_10"] == pytest.approx(want["share_beyond_10"], rel=1e-6, abs=1e-18)
    assert got["tail_norm_beyond_10"] == pytest.approx(want["tail_norm_beyond_10"], rel=1e-6)
    assert set(got["exact"]) == set(want["exact"])
    for label, w in want["exact"].items():
        assert got["exact"][label]["bias"] == pytest.approx(w["bias"], rel=1e-6, abs=1e-15), label
        assert got["exact"][label]["variance"] == pytest.approx(w["variance"], rel=1e-6, abs=1e-15), label


def shipped(name: str) -> tuple[dict, pd.DataFrame]:
    data = json.loads((ROOT / "bptt" / "results" / f"{name}.json").read_text())
    return data, pd.DataFrame(data["runs"])


@pytest.mark.parametrize("name", ["time_machine", "synthetic"])
def test_readme_compare_figures_are_the_shipped_results(name):
    data, runs = shipped(name)
    text = " ".join(section("Compare").split())  # README wraps its lines anywhere
    table = compare.summary(runs, data["metric"]).set_index("strategy")
    quoted = re.findall(r"(\S+) (\d\.\d+) ± (\d\.\d+)", text)
    assert quoted, "README quotes mean ± sd figures"
    for strategy, row in table.iterrows():
        title = Strategy.title_of(strategy)
        mean, sd = f"{row['mean']:.3f}", f"{row['sd']:.2g}"
        assert f"{title} {mean} ± {sd}" in text, f"README lacks '{title} {mean} ± {sd}' ({name})"
    ok = {
        s: g[g["status"] != "diverged"][data["metric"]].to_numpy(float) for s, g in runs.groupby("strategy")
    }
    best = min(ok, key=lambda s: ok[s].mean())
    for s, p in compare.pairwise_vs_best(ok, best).items():
        figure = f"{Strategy.title_of(s)} against {Strategy.title_of(best)}: p = {p:.2g}"
        assert figure in text, f"README lacks '{figure}' ({name})"
    bullets = text.split("**A synthetic long dependency**")
    own = bullets[0].split("**The Time Machine**")[-1] if name == "time_machine" else bullets[-1]
    for quoted_raw in re.findall(r"unadjusted p is (\S+?)[;,)]", own):  # a raw p quoted beside the Holm ones
        raws = {f"{compare.welch(ok[best], ok[s]):.2g}" for s in ok if s != best}
        assert quoted_raw in raws, f"README's unadjusted p {quoted_raw} is none of {raws} ({name})"
