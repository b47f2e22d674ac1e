"""Merge results files of `python -m bptt compare` that differ only in their strategies into one, as a
single comparison would have written it (each run depends only on its strategy and seed: the seed fixes
the initial weights and the minibatch order). For comparisons larger than the host's bound on runs per
comparison, e.g. the shipped synthetic one:

    S="--task synthetic --d 8 --seeds 0 1 2 3 4 --num-steps 32 --batch-size 32 --num-hiddens 32
       --optimizer adam --lr 0.01 --clip 1.0 --epochs 200 --device cpu"
    OMP_NUM_THREADS=1 python -m bptt compare $S --strategies randomized:0.9 --out /tmp/b.json
    OMP_NUM_THREADS=1 python -m bptt compare $S --strategies full regular:6 regular:7 regular:8 \
        --out /tmp/a.json
    python benchmarks/merge_comparisons.py /tmp/a.json /tmp/b.json --out bptt/results/synthetic.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed

from bptt.compare import results, stats  # noqa: E402


def thin(curves: list[dict], max_points: int) -> list[dict]:
    """At most max_points records of each run's curve, evenly spaced, its first and last kept."""
    by_run: dict[tuple, list[dict]] = {}
    for c in curves:
        by_run.setdefault((c["strategy"], c["seed"]), []).append(c)
    out = []
    for rows in by_run.values():
        keep = sorted({round(i * (len(rows) - 1) / max(max_points - 1, 1)) for i in range(max_points)})
        out.extend(rows[i] for i in keep if i < len(rows))
    return out


def merge(parts: list[dict], max_points: int = 80) -> dict:
    """One results dict from several; each run's curve thinned to `max_points` records so that a
    comparison of 25 runs stays within the shipped files' size (tests/test_compare.py)."""
    first = parts[0]
    same = {k: v for k, v in first["spec"].items() if k != "strategies"}
    for p in parts[1:]:
        if {k: v for k, v in p["spec"].items() if k != "strategies"} != same or p["metric"] != first[
            "metric"
        ]:
            raise ValueError("the files differ in more than their strategies")
    runs = pd.DataFrame([r for p in parts for r in p["runs"]])
    runs[first["metric"]] = runs[first["metric"]].astype(float)
    out = dict(first)
    out["spec"] = {**first["spec"], "strategies": [s for p in parts for s in p["spec"]["strategies"]]}
    out["runs"] = [r for p in parts for r in p["runs"]]
    out["summary"] = results._records(stats.summary(runs, first["metric"]))
    out["curves"] = thin([c for p in parts for c in p["curves"]], max_points)
    out["note"] = "Merged from {} comparisons of the same settings run one after the other ({}).".format(
        len(parts), ", ".join(p["machine"]["date"] for p in parts)
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    results.write_results(merge([json.loads(f.read_text()) for f in a.files]), a.out)


if __name__ == "__main__":
    main()
