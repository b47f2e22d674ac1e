"""Where a run computes: the device a setting names, and the process-wide CPU thread count.

PyTorch's intra-op thread pool is process-wide (`torch.set_num_threads`), so a server that trains
several sessions at once gives each training slot cores / slots threads: two runs on two cores never
fight over one core. "Cores" is what the container may use, not what the host has: a Community Cloud
app sees the host's CPUs in `os.cpu_count()` but gets a CFS quota of a fraction of a core to two cores,
and a thread pool sized for the host would time-slice on that quota.
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import torch

_threads_lock = threading.Lock()
_threads_set: int | None = None


def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """'auto' picks CUDA when present; 'cuda' without a GPU falls back to the CPU."""
    if str(device) in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    if str(device) in ("auto", "cuda"):
        return torch.device("cpu")
    return torch.device(device)


def falls_back(device: str | torch.device) -> bool:
    """True when the setting asks for CUDA explicitly and the run will train on the CPU instead."""
    return str(device) == "cuda" and resolve_device(device).type != "cuda"


def describe_device(device: str | torch.device) -> str:
    """The device a setting resolves to, for people: 'cpu' or 'cuda (NVIDIA H100 …)'."""
    dev = resolve_device(device)
    return f"cuda ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else str(dev)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(root: str | Path = "/sys/fs/cgroup", proc_cgroup: str | Path = "/proc/self/cgroup"):
    """The CPU quota of this process's cgroup in cores (1.5 for "150000 100000"), or None if unlimited.

    cgroup v2: `cpu.max` ("QUOTA PERIOD" or "max PERIOD") of the process's cgroup and of every parent,
    the smallest applying. cgroup v1: `cpu.cfs_quota_us` / `cpu.cfs_period_us` (quota -1: unlimited) in
    the cpu controller's folder. Inside a container the process's own cgroup is mounted at the root.
    """
    root = Path(root)
    limits = []
    lines = (_read(Path(proc_cgroup)) or "").splitlines()
    v2 = [line.split(":", 2)[2] for line in lines if line.startswith("0::")]
    if (root / "cgroup.controllers").exists():  # cgroup v2 (unified)
        rel = Path(v2[0].lstrip("/")) if v2 else Path()
        for folder in {root / rel, *(root / p for p in rel.parents), root}:
            parts = (_read(folder / "cpu.max") or "").split()
            if len(parts) == 2 and parts[0] != "max" and int(parts[1]) > 0:
                limits.append(int(parts[0]) / int(parts[1]))
    else:  # cgroup v1: the cpu controller, alone or as "cpu,cpuacct"
        for folder in (root / "cpu", root / "cpu,cpuacct", root / "cpuacct,cpu"):
            quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
            if quota and period and int(quota) > 0 and int(period) > 0:
                limits.append(int(quota) / int(period))
    return min(limits) if limits else None


def usable_cores(**cgroup) -> float:
    """The cores this process may use: the CPUs it may run on, capped by its cgroup's CPU quota."""
    try:
        cores = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        cores = float(os.cpu_count() or 1)
    limit = cgroup_cpu_limit(**cgroup)
    return min(cores, limit) if limit is not None else cores


def threads_per_slot(slots: int, environ=os.environ, **cgroup) -> int:
    """torch threads for each of `slots` concurrent trainings: BPTT_TORCH_THREADS if set, else the usable
    cores shared out (rounded down, at least 1: a quota of 0.5 cores still runs one thread)."""
    override = environ.get("BPTT_TORCH_THREADS", "").strip()
    if override:
        if not override.isdigit() or int(override) < 1:
            raise ValueError(f"BPTT_TORCH_THREADS must be a whole number of at least 1, not {override!r}")
        return int(override)
    return max(1, math.floor(usable_cores(**cgroup) / max(1, slots)))


def configure_threads(slots: int) -> int:
    """Once per process: set torch's thread pool to `threads_per_slot(slots)`. Later calls return the
    number set first."""
    global _threads_set
    with _threads_lock:
        if _threads_set is None:
            _threads_set = threads_per_slot(slots)
            torch.set_num_threads(_threads_set)
        return _threads_set
