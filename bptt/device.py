"""Where a run computes: the device a setting names, and the process-wide CPU thread count.

PyTorch's intra-op thread pool is process-wide (`torch.set_num_threads`), so a server that trains
several sessions at once gives each training slot cores / slots threads: two runs on two cores never
fight over one core.
"""

from __future__ import annotations

import os
import threading

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


def configure_threads(slots: int) -> int:
    """Once per process: give each of `slots` concurrent trainings cores // slots threads (at least 1).
    Later calls return the number set first."""
    global _threads_set
    with _threads_lock:
        if _threads_set is None:
            _threads_set = max(1, (os.cpu_count() or 1) // max(1, slots))
            torch.set_num_threads(_threads_set)
        return _threads_set
