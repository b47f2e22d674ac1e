"""Record the replays the training page ships (bptt/results/replays/): the book's experiment (d2l §8.5,
§8.7) under full, regular k = 5 and k = 10, randomized π = 0.9 and ARTBP truncation, and the Quick look
preset, each on the bundled corpus (the host is offline) and the CPU, through the CLI's --record.

    OMP_NUM_THREADS=1 python benchmarks/record_replays.py [--only KEY ...]

One run at a time. Writes <key>.npz per recording and replays.json (per recording: size, steps, final
perplexity, training seconds; the total size), which README's figures come from.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bptt.config import PRESETS  # noqa: E402
from bptt.hosting.recordings import REPLAY_DIR, SHIPPED, read_recording  # noqa: E402


def flags(preset: str, changes: dict) -> list[str]:
    cfg = PRESETS[preset].replace(corpus="bundled", device="cpu", **changes)
    out = []
    for name, value in cfg.to_dict().items():
        out += [f"--{name.replace('_', '-')}", str(value)]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(SHIPPED), help="record only these")
    parser.add_argument("--out", type=Path, default=REPLAY_DIR)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "replays.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {"recordings": {}}
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    for key in args.only or list(SHIPPED):
        preset, changes = SHIPPED[key]
        path = args.out / f"{key}.npz"
        cmd = [
            sys.executable,
            "-m",
            "bptt",
            "train",
            *flags(preset, changes),
            "--record",
            str(path),
            "--quiet",
        ]
        start = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if not path.exists():
            print(f"{key}: failed (exit {done.returncode})\n{done.stderr}", file=sys.stderr)
            return 1
        rec = read_recording(path)
        results["recordings"][key] = {
            "preset": preset,
            "strategy": rec.meta["strategy"],
            "status": rec.meta["status"],
            "bytes": path.stat().st_size,
            "steps": len(rec),
            "final_perplexity": rec.meta["perplexity"],
            "training_seconds": float(rec.frame["wall_time"].iloc[-1]),
            "process_seconds": seconds,
            "torch": rec.meta["torch"],
            "date": rec.meta["date"],
        }
        print(f"{key}: {path.stat().st_size:,} bytes, {len(rec)} steps, perplexity "
              f"{rec.meta['perplexity']:.3f}, {seconds:.0f} s", flush=True)  # fmt: skip
        results["total_bytes"] = sum(r["bytes"] for r in results["recordings"].values())
        results["omp_num_threads"] = env["OMP_NUM_THREADS"]
        results_path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
