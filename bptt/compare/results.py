"""A comparison's results file: JSON (spec, machine, runs, summary, curves) with the curves as CSV
beside it, and the comparisons shipped in bptt/results/."""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import pandas as pd

from .runner import Comparison
from .stats import summary

RESULTS_DIR = Path(__file__).parents[1] / "results"


def project_version() -> str:
    try:
        from importlib.metadata import version

        return version("bptt-lab")
    except Exception:
        pyproject = Path(__file__).parents[2] / "pyproject.toml"
        try:
            import tomllib

            return tomllib.loads(pyproject.read_text())["project"]["version"]
        except Exception:
            return "unknown"


def machine() -> dict[str, Any]:
    import torch

    return {"platform": platform.platform(), "python": platform.python_version(), "cores": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}  # fmt: skip


def results(comparison: Comparison, corpus_name: str | None = None) -> dict[str, Any]:
    """Everything needed to redraw and judge the comparison, as JSON-ready data."""
    spec = comparison.spec
    runs = comparison.runs()
    return {
        "format": "bptt-lab comparison 1",
        "version": project_version(),
        "machine": machine(),
        "spec": spec.to_dict(),
        "corpus": corpus_name or comparison.corpus.name,
        "metric": spec.metric,
        "runs": _records(runs),
        "summary": _records(summary(runs, spec.metric)) if not runs.empty else [],
        "curves": _records(comparison.curves(max_points=100)),
    }


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    # JSON has no inf/NaN: write them as null (a diverged run is marked by its status).
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
            for r in json.loads(df.to_json(orient="records"))]  # fmt: skip


def results_json(data: dict[str, Any]) -> str:
    """The results file's text (strict JSON: no NaN or Infinity)."""
    return json.dumps(data, allow_nan=False) + "\n"


def curves_csv(data: dict[str, Any]) -> str:
    """The curves of a results dict as CSV, the file written beside the JSON."""
    return pd.DataFrame(data["curves"]).to_csv(index=False)


def write_results(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(results_json(data), encoding="utf-8")
    path.with_suffix(".csv").write_text(curves_csv(data), encoding="utf-8")


SHIPPED = ("time_machine", "synthetic")


def load_shipped(name: str) -> dict[str, Any]:
    """A shipped comparison (bptt/results/NAME.json) with its tables as DataFrames: 'runs',
    'summary', 'curves' (a null final value of a diverged run read back as inf)."""
    if name not in SHIPPED:
        raise ValueError(f"unknown shipped comparison {name!r}; use one of {', '.join(SHIPPED)}")
    data = json.loads((RESULTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    for key in ("runs", "summary", "curves"):
        data[key] = pd.DataFrame(data[key])
    runs = data["runs"]
    if not runs.empty:
        metric = data["metric"]
        runs.loc[runs["status"] == "diverged", metric] = math.inf
    return data
