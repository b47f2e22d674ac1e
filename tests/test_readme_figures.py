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

from bptt.compare import stats
from bptt.truncation import Strategy

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LAB = ROOT / "benchmarks" / "results" / "lab_numbers.json"
TWO_REPLICAS = ROOT / "benchmarks" / "results" / "two_replicas.json"
CAPACITY = ROOT / "benchmarks" / "results" / "capacity.json"


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


def benchmark_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_two_replicas_is_the_results_file():
    """For a class quotes benchmarks/two_replicas.py's sentence for its results file, and that run held:
    12 students or more, on every replica, no failure."""
    result = json.loads(TWO_REPLICAS.read_text())
    assert result["passed"] and result["failures"] == [], result["failures"]
    assert result["sessions"] >= 12 and len(result["sessions_per_replica"]) >= 2
    assert min(result["sessions_per_replica"]) > 0
    assert result["board_shows"] == result["posts_in_database"] == result["sessions"]
    text = " ".join(section("For a class").split())
    quoted = benchmark_module("two_replicas").readme_text(result)
    assert quoted in text, f"README's For a class lacks (or has a stale copy of):\n{quoted}"


def test_readme_capacity_table_is_the_results_file():
    """For a class's capacity table is benchmarks/capacity.py's table of its results file, and the file's
    derived rows are what this code derives from the file's measured costs."""
    result = json.loads(CAPACITY.read_text())
    capacity = benchmark_module("capacity")
    base = result["capacity"]["assumptions"]["replica_base_mb"]
    assert capacity.capacity_table(result["training"], result["watching"], base) == result["capacity"]
    text = section("For a class")
    for row in filter(None, capacity.readme_table(result).splitlines()):
        assert row in text, f"README's capacity tables lack (or have a stale copy of) the row:\n{row}"
    sentence = capacity.readme_watching(result)
    assert sentence in " ".join(text.split()), f"README's For a class lacks:\n{sentence}"


def test_the_capacity_arithmetic_on_a_case_worked_by_hand():
    """2 cores and 4 GB: one replica of 2 slots. Memory: 4096 - 512 reserved - 300 for the replica = 3284
    MB, at 3 runs x 10 MB a student, 109 students. CPU: 60 pages x 0.01 = 0.6 of a core asked beside the
    2 slots' 2 cores, on 2 cores: the slots get 2 x 2 / 2.6 = 1.538 cores, 0.769 of a core each, 15,385
    tokens/s of 20,000; the class's 60 x 60 CPU seconds take 2340 s = 39 min (Quick look: 6 s a run,
    3.9 min). Without the pages' cost, the slots get their 2 cores: 30 min."""
    capacity = benchmark_module("capacity")
    book = {"cpu_s_per_run": 60.0, "tokens_per_s_one_thread": 20_000.0, "rss_mb_per_kept_run": 10.0}
    quick = {"cpu_s_per_run": 6.0, "tokens_per_s_one_thread": 50_000.0, "rss_mb_per_kept_run": 2.0}
    training = {"The book's experiment": book, "Quick look": quick}
    table = capacity.capacity_table(training, {"watching_cpu_per_s": 0.01}, 300.0)
    row = table["rows"][0]
    assert (row["cores"], row["memory_gb"], row["replicas"], row["training_at_once"]) == (2, 4, 1, 2)
    assert row["students_by_memory"] == 109
    assert row["tokens_per_s_each_book"] == pytest.approx(20_000 * 2 / 2.6)
    assert row["class_minutes_book"] == pytest.approx(39.0)
    assert row["class_minutes_quick"] == pytest.approx(3.9)
    # 32 cores: 16 replicas' 32 slots and 0.6 of a core of pages on 32 cores, 32 x 32 / 32.6 for training.
    big = table["rows"][-1]
    assert big["training_at_once"] == 32
    assert big["tokens_per_s_each_book"] == pytest.approx(20_000 * 32 / 32.6)
    free = capacity.capacity_table(training, {"watching_cpu_per_s": 0.0}, 300.0)["rows"][0]
    assert free["class_minutes_book"] == pytest.approx(30.0) and free["tokens_per_s_each_book"] == 20_000


def shipped(name: str) -> tuple[dict, pd.DataFrame]:
    data = json.loads((ROOT / "bptt" / "results" / f"{name}.json").read_text())
    return data, pd.DataFrame(data["runs"])


@pytest.mark.parametrize("name", ["time_machine", "synthetic"])
def test_readme_compare_figures_are_the_shipped_results(name):
    data, runs = shipped(name)
    text = " ".join(section("Compare").split())  # README wraps its lines anywhere
    table = stats.summary(runs, data["metric"]).set_index("strategy")
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
    for s, p in stats.pairwise_vs_best(ok, best).items():
        figure = f"{Strategy.title_of(s)} against {Strategy.title_of(best)}: p = {p:.2g}"
        assert figure in text, f"README lacks '{figure}' ({name})"
    bullets = text.split("**A synthetic long dependency**")
    own = bullets[0].split("**The Time Machine**")[-1] if name == "time_machine" else bullets[-1]
    for quoted_raw in re.findall(r"unadjusted p is (\S+?)[;,)]", own):  # a raw p quoted beside the Holm ones
        raws = {f"{stats.welch(ok[best], ok[s]):.2g}" for s in ok if s != best}
        assert quoted_raw in raws, f"README's unadjusted p {quoted_raw} is none of {raws} ({name})"


def test_readme_stream_figures_are_the_benchmark_file():
    """The two "full"s: every figure quoted is benchmarks/bench_stream.py's results file, and the caps
    quoted are the code's."""
    from bptt.truncation.stream import MAX_STREAM_BYTES, MAX_STREAM_STEPS

    bench = json.loads((ROOT / "benchmarks" / "results" / "bench_stream.json").read_text())
    text = " ".join(section("The library and the CLI").split())
    quoted = [
        f"{bench['bytes_per_step'] / 1000:.0f} KB per time step",
        f"{bench['graph_mib_at_cap']:.0f} MiB at the cap",
        f"({bench['held_steps_at_cap']:,} steps",
        f"{bench['backward_cpu_s_first_windows']:.3f} s of CPU",
        f"{bench['backward_cpu_s_at_cap']:.2f} s at the cap",
        f"{bench['full_within_window_step_wall_s']:.3f} s (wall)",
        f"grows by {bench['rss_growth_mib']:.0f} MiB",
        f"({bench['rss_growth_trimmed_mib']:.0f} MiB once",
        f"after {bench['largest_settings']['steps_before_byte_cap']} steps",
        f"{MAX_STREAM_STEPS:,} time steps or {MAX_STREAM_BYTES // 2**20} MiB",
        f"an epoch is {bench['book_experiment']['windows_per_epoch']} windows",
        f"end at {bench['book_experiment']['max_held_steps']} steps",
        f"from {bench['tokens_for_a_full_stream']:,} tokens",
    ]
    for figure in quoted:
        assert figure in text, f"README lacks {figure!r} from bench_stream.json"
    assert bench["caps"] == {"max_steps": MAX_STREAM_STEPS, "max_bytes": MAX_STREAM_BYTES}


def test_readme_session_memory_is_the_results_file():
    """For a class quotes benchmarks/session_memory.py's sentence for its results file, and that run
    held: every tab trained, no error, the memory rose and was back within the margin within 60 s."""
    result = json.loads((ROOT / "benchmarks" / "results" / "session_memory.json").read_text())
    assert not any(result["errors"]) and all(s > 0 for s in result["steps"]), result
    assert result["rss_peak_mb"] > result["rss_before_mb"] + 100
    assert result["freed_after_s"] is not None and result["freed_after_s"] <= 60
    quoted = benchmark_module("session_memory").readme_text(result)
    assert quoted in " ".join(section("For a class").split()), f"README's For a class lacks:\n{quoted}"
