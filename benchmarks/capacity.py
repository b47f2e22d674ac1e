"""What one student costs the host, per preset, and how many students a host serves.

    python benchmarks/capacity.py [--runs 2] [--watch-seconds 20] [--out FILE] [--watch-only | --derive]

(FILE: benchmarks/results/capacity.json unless given. --watch-only measures (c) again and keeps (a) and
(b) from FILE; --derive only derives (d) again from FILE's measurements.)

(a) Training, in this process, one torch thread (what a training slot gets on a host of as many cores as
    slots; bptt/device.py): each preset of bptt/config.py (the corpus replaced by the bundled one, the
    same 10,000 tokens, so that no download is needed) is trained to its end --runs times. CPU seconds per
    step = the training thread's CPU time (time.thread_time) over its steps, all of a run's work included
    (the spectral norm every 10 steps, the weight snapshots, the ends of epochs); tokens/s = batch_size x
    num_steps / CPU seconds per step.
(b) Memory per kept run: the process's resident memory (RSS, after gc and malloc_trim) before the first
    run and after each finished run is kept, as a session's registry keeps it (bptt/hosting/runs.py); the mean
    increase per run. Beside it, the bytes the run's objects account for (weights, gradients, optimizer
    state, weight snapshots, history), a lower bound that does not count the allocator's slack.
(c) Watching: `streamlit run app.py` with one Train page open in Chromium while the book's experiment
    trains. The server's CPU per second with no page open (idle), and with the page open while it trains;
    the training part is the training worker's own CPU (the busiest thread), the rest is what the
    watching page costs (its page runs, the panel's timer runs, the messages). The steps the page's Step
    metric moved times (a)'s CPU per step are stored as a check of the training part (a difference of
    (a)'s figure, measured at another time, from the total would be mostly noise: the page costs a few
    hundredths of a core).
(d) The capacity table: derived from (a)-(c) in this script (`capacity_table`), with its assumptions
    stored beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bptt.config import PRESETS, RunConfig  # noqa: E402
from bptt.corpora import load_corpus  # noqa: E402
from bptt.hosting.runs import RunRegistry  # noqa: E402
from bptt.hosting.sessions import release_memory, rss_mb  # noqa: E402
from bptt.training import Trainer  # noqa: E402

# The hosts README's table describes: (cores, GB of memory).
HOSTS = [(2, 4), (4, 8), (8, 16), (16, 32), (32, 64)]
CLASS = 60  # students in the class the table's waits are computed for
RUNS_KEPT = 3  # runs a student keeps (full, regular, randomized: the book's comparison)
RESERVED_GB = 0.5  # memory left to the system and nginx
CORES_PER_REPLICA = 2  # deploy/: one replica per 2 cores, BPTT_MAX_TRAINING = 2 (one thread a slot)


def settled_rss_mb() -> float:
    """RSS after the garbage collector and glibc's malloc_trim returned what they can (as the server
    does when it lets a closed session go, bptt/hosting/sessions.py)."""
    release_memory()
    return rss_mb()


def accounted_bytes(trainer: Trainer) -> int:
    """Bytes the run's own objects hold: weights and their gradients, the optimizer's state, the kept
    weight snapshots, and the history's records (as a DataFrame, deep)."""
    total = 0
    for p in trainer.model.parameters():
        total += p.numel() * p.element_size() * (2 if p.grad is not None else 1)
    for state in trainer.optimizer.state.values():
        total += sum(v.numel() * v.element_size() for v in state.values() if torch.is_tensor(v))
    total += trainer.weights.nbytes
    total += int(trainer.history.frame().memory_usage(deep=True).sum())
    total += int(trainer.history.dh_matrix().nbytes)
    return total


def measure_training(name: str, cfg: RunConfig, runs: int) -> dict:
    """(a) and (b) for one preset: `runs` runs trained to the end and kept in one registry."""
    corpus = load_corpus(cfg.corpus, tokenizer=cfg.tokenizer, max_tokens=cfg.max_tokens)
    registry = RunRegistry()
    cpu_per_step, rss_deltas, accounted, steps, wall = [], [], [], [], []
    # A few steps first, thrown away: torch allocates its pools on the first forward and backward passes,
    # which would otherwise count as the first kept run's memory.
    Trainer(cfg, corpus).run_for(60.0, max_steps=20)
    before = settled_rss_mb()
    for i in range(runs):
        trainer = Trainer(dataclasses.replace(cfg, seed=cfg.seed + i), corpus)
        registry.add(trainer.cfg, trainer)
        c0, t0 = time.thread_time(), time.perf_counter()
        trainer.run()
        cpu, w = time.thread_time() - c0, time.perf_counter() - t0
        cpu_per_step.append(cpu / trainer.step_count)
        steps.append(trainer.step_count)
        wall.append(w)
        after = settled_rss_mb()
        rss_deltas.append(after - before)
        before = after
        accounted.append(accounted_bytes(trainer) / 2**20)
        print(f"{name} run {i + 1}: {trainer.step_count} steps, {cpu:.1f} s CPU, {w:.1f} s wall, "
              f"RSS +{rss_deltas[-1]:.1f} MB", flush=True)  # fmt: skip
    tokens_per_step = cfg.batch_size * cfg.num_steps
    per_step = statistics.median(cpu_per_step)
    return {
        "settings": cfg.to_dict(),
        "steps_per_run": steps[0],
        "cpu_s_per_step": per_step,
        "cpu_s_per_step_runs": cpu_per_step,
        "tokens_per_s_one_thread": tokens_per_step / per_step,
        "cpu_s_per_run": per_step * steps[0],
        "wall_s_per_run": wall,
        "rss_mb_per_kept_run": statistics.mean(rss_deltas),
        "rss_mb_per_kept_run_each": rss_deltas,
        "accounted_mb_per_run": statistics.mean(accounted),
    }


def cpu_of_threads(pid: int) -> dict[int, float]:
    """CPU seconds (utime + stime) of each thread of a process, from /proc/<pid>/task/<tid>/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        out[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def measure_watching(cpu_per_step: float, seconds: float) -> dict:
    """(c): the server's CPU per second idle, and with one Train page watching the book's experiment."""
    from conftest import (
        CHROMIUM,
        PageWatch,
        control,
        proc_cpu_seconds,
        proc_rss_mb,
        start_server,
        step_count,
        wait_settled,
        wait_steps_above,
    )
    from playwright.sync_api import sync_playwright

    load_start = os.getloadavg()[0]
    server = start_server("capacity", BPTT_TORCH_THREADS="1")
    pid = server.proc.pid
    try:
        time.sleep(3)
        c0, t0 = proc_cpu_seconds(pid), time.monotonic()
        time.sleep(seconds / 2)
        idle = (proc_cpu_seconds(pid) - c0) / (time.monotonic() - t0)
        rss_idle = proc_rss_mb(pid)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
            pw = PageWatch(browser)
            pw.page.set_default_timeout(60_000)
            pw.page.goto(server.url + "/train?corpus=bundled")  # the book's experiment
            wait_settled(pw.page, timeout=120)
            control(pw.page, "Start").click()
            wait_steps_above(pw.page, 50, timeout=120)
            s0, c0, th0, t0 = (
                step_count(pw.page),
                proc_cpu_seconds(pid),
                cpu_of_threads(pid),
                time.monotonic(),
            )
            time.sleep(seconds)
            s1, c1, th1 = step_count(pw.page), proc_cpu_seconds(pid), cpu_of_threads(pid)
            elapsed = time.monotonic() - t0
            rss_watching = proc_rss_mb(pid)
            pw.close()
            browser.close()
    finally:
        server.stop()
    total = (c1 - c0) / elapsed
    steps_per_s = (s1 - s0) / elapsed
    training = steps_per_s * cpu_per_step
    busiest = max((th1[t] - th0.get(t, 0.0)) for t in th1) / elapsed
    return {
        "seconds": elapsed,
        "server_cpu_per_s_idle": idle,
        "server_cpu_per_s_watching_and_training": total,
        "steps_per_s": steps_per_s,
        "training_cpu_per_s": training,
        "busiest_thread_cpu_per_s": busiest,
        # The page's cost: the server's CPU less its rest and the training worker's own CPU (the busiest
        # thread), all measured over the same seconds. (a)'s CPU a step times the steps made is the check
        # that the busiest thread is the training: both near 1 core while one run trains.
        "watching_cpu_per_s": max(total - idle - busiest, 0.0),
        "server_rss_mb_idle": rss_idle,
        "server_rss_mb_one_page_training": rss_watching,
        "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }


def capacity_table(training: dict, watching: dict, base_mb: float) -> dict:
    """How many students a host of N cores and M GB serves, and how fast, from the measured costs.

    Assumptions (stored with the table): one replica per CORES_PER_REPLICA cores, each training
    CORES_PER_REPLICA sessions at once on one thread each (deploy/'s default); a replica holds `base_mb`
    with its first page open; every student keeps RUNS_KEPT finished runs of the book's experiment; the
    whole class of CLASS students has Train open, each page asking `watching_cpu_per_s` of a core; the
    system keeps RESERVED_GB. When the training slots (one core each) and the pages ask for more than the
    host has, each gets CPU in proportion to what it asks (a fair share; the GIL that a replica's threads
    share is not modelled). The minutes for a class: everyone starts the same preset at once and the
    slots take turns (bptt/slots.py), so the last student finishes when the class's training work is
    done at that rate."""
    book, quick = training["The book's experiment"], training["Quick look"]
    w = watching["watching_cpu_per_s"]
    per_student_mb = RUNS_KEPT * book["rss_mb_per_kept_run"]
    pages = CLASS * w  # cores the class's open pages ask for
    rows = []
    for cores, gb in HOSTS:
        replicas = max(1, cores // CORES_PER_REPLICA)
        slots = replicas * CORES_PER_REPLICA
        free_mb = gb * 1024 - RESERVED_GB * 1024 - replicas * base_mb
        training_cores = slots if slots + pages <= cores else cores * slots / (slots + pages)
        rows.append({
            "cores": cores,
            "memory_gb": gb,
            "replicas": replicas,
            "training_at_once": slots,
            "training_cores": training_cores,
            "tokens_per_s_each_book": training_cores / slots * book["tokens_per_s_one_thread"],
            "students_by_memory": max(0, int(free_mb // per_student_mb)),
            "class_minutes_book": CLASS * book["cpu_s_per_run"] / training_cores / 60,
            "class_minutes_quick": CLASS * quick["cpu_s_per_run"] / training_cores / 60,
        })  # fmt: skip
    return {
        "assumptions": {
            "class": CLASS,
            "runs_kept_per_student": RUNS_KEPT,
            "reserved_gb": RESERVED_GB,
            "cores_per_replica": CORES_PER_REPLICA,
            "replica_base_mb": base_mb,
            "memory_per_student_mb": per_student_mb,
            "watching_cpu_per_s": w,
            "pages_cores": pages,
        },
        "rows": rows,
    }


def readme_table(result: dict) -> str:
    """README's two tables, from the results file (tests/test_readme_figures.py checks that README holds
    them, row for row): what a session costs per preset, and what a host serves."""
    rows = [
        "| preset | steps a run | CPU a step (one thread) | tokens/s (one thread) | CPU a run "
        "| memory a kept run (resident; of it, the run's own objects) |",
        "|---|---|---|---|---|---|",
    ]
    for name, t in result["training"].items():
        rows.append(
            f"| {name} | {t['steps_per_run']:,} | {t['cpu_s_per_step'] * 1000:.1f} ms "
            f"| {t['tokens_per_s_one_thread']:,.0f} | {t['cpu_s_per_run']:.0f} s "
            f"| {t['rss_mb_per_kept_run']:.1f} MB ({t['accounted_mb_per_run']:.1f} MB) |"
        )
    rows += [
        "",
        "| host | replicas | sessions training at once | tokens/s of each, the book's experiment "
        f"| students its memory holds ({RUNS_KEPT} kept runs each) | a class of {CLASS} starts the book's "
        "experiment at once: the last finishes after | the same with Quick look |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["capacity"]["rows"]:
        rows.append(
            f"| {r['cores']} cores, {r['memory_gb']} GB | {r['replicas']} | {r['training_at_once']} "
            f"| {r['tokens_per_s_each_book']:,.0f} | {r['students_by_memory']:,} "
            f"| {r['class_minutes_book']:.0f} min | {r['class_minutes_quick']:.1f} min |"
        )
    return "\n".join(rows)


def readme_watching(result: dict) -> str:
    """README's sentence on what a watching page costs, from the results file."""
    w, m = result["watching"], result["machine"]
    return (
        f"A Train page watching the book's experiment costs the server {w['watching_cpu_per_s']:.3f} of a "
        f"core: {w['server_cpu_per_s_watching_and_training']:.3f} CPU seconds a second with the page open "
        f"and the run training, less {w['server_cpu_per_s_idle']:.3f} at rest and "
        f"{w['busiest_thread_cpu_per_s']:.3f} for the training thread (its own CPU time; as a check, "
        f"{w['steps_per_s']:.1f} steps/s x the CPU a step above is {w['training_cpu_per_s']:.3f}). "
        f"A replica holds "
        f"{w['server_rss_mb_idle']:.0f} MB at rest and {w['server_rss_mb_one_page_training']:.0f} MB "
        f"with one page training (load average {w['load_average'][0]:.1f} at the start, "
        f"{w['load_average'][1]:.1f} at the end, {m['cpus']} cores). A class of {CLASS} with Train open "
        f"asks {result['capacity']['assumptions']['pages_cores']:.1f} cores for its pages alone."
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--watch-seconds", type=float, default=20.0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "capacity.json")
    ap.add_argument(
        "--derive", action="store_true", help="only derive the capacity table again from --out's measurements"
    )
    ap.add_argument(
        "--watch-only", action="store_true", help="measure (c) again, keep (a) and (b) from --out"
    )
    args = ap.parse_args()
    if args.derive or args.watch_only:
        result = json.loads(args.out.read_text())
        if args.watch_only:
            book = result["training"]["The book's experiment"]["cpu_s_per_step"]
            result["watching"] = measure_watching(book, args.watch_seconds)
            result["machine"]["watching_date"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        base = result["watching"]["server_rss_mb_one_page_training"]
        result["capacity"] = capacity_table(result["training"], result["watching"], base)
        args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        print(readme_table(result))
        print(readme_watching(result))
        return 0
    torch.set_num_threads(1)
    load_start = os.getloadavg()
    training = {
        name: measure_training(name, dataclasses.replace(cfg, corpus="bundled"), args.runs)
        for name, cfg in PRESETS.items()
    }
    watching = measure_watching(training["The book's experiment"]["cpu_s_per_step"], args.watch_seconds)
    result = {
        "training": training,
        "watching": watching,
        "capacity": capacity_table(training, watching, watching["server_rss_mb_one_page_training"]),
        "machine": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(json.dumps(result["capacity"], indent=1))
    print(readme_table(result))
    print(readme_watching(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
