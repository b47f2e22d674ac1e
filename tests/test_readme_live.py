"""README's figures for the live page are the committed results files' (benchmarks/first_visit.py,
benchmarks/page_runs.py, the load run's output), so a rerun of a benchmark that moves a figure fails
here until README says the new one."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def live_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n### The live page\n")
    return " ".join(text[start : text.index("\n## ", start)].split())


def test_first_visit_figures_are_the_results_file():
    medians = json.loads((RESULTS / "first_visit.json").read_text())["medians"]
    text = live_section()
    for mode in ("warm", "cold", "old warm"):
        if mode in medians:
            for key in ("start_clickable_s", "page_complete_s"):
                assert f"{medians[mode][key]:.1f} s" in text, (mode, key, medians[mode][key])


def test_page_run_figures_are_the_results_file():
    result = json.loads((RESULTS / "page_runs.json").read_text())
    text = live_section()
    for view in ("curves", "gradients", "dh", "speed", "runs"):
        panel = result["page_runs"][view]["panel"]
        assert f"{panel['median_s'] * 1000:.0f} ms" in text, (view, panel)
    clicks = result["page_runs"]["page_runs_train"]
    assert f"{clicks['median_s'] * 1000:.0f} ms" in text
    assert f"{result['speed_ratio_median']:.2f}" in text


def test_load_figures_are_the_results_file():
    out = (RESULTS / "load_6x60_seeds_11-15.txt").read_text()
    steps = [int(x) for m in re.findall(r"steps per session \[([^\]]*)\]", out) for x in m.split(",")]
    rss = [int(x) for x in re.findall(r"peak RSS (\d+) MB", out)]
    idle = [float(x) for x in re.findall(r"idle ([\d.]+) s", out)]
    text = live_section()
    assert "5 passed" in out and f"{min(steps)}–{max(steps)} steps" in text
    span = f"{min(idle):.1f}" if min(idle) == max(idle) else f"{min(idle):.1f}–{max(idle):.1f}"
    assert f"peak RSS {max(rss)} MB" in text and f"idle {span} s" in text
