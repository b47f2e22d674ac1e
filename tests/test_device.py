"""The CUDA path: the same numbers on a GPU (skipped on machines without one, as CI's)."""

import os

import pytest
import torch

import bptt
from bptt import device
from bptt.device import resolve_device

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def test_auto_and_cuda_fall_back_to_the_cpu_without_a_gpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cuda").type == expected
    assert resolve_device("cpu").type == "cpu"


@cuda
@pytest.mark.parametrize("strategy", [bptt.Full(), bptt.Regular(3), bptt.Randomized(bptt.ConstantPi(0.7))])
def test_gradients_on_the_gpu_equal_the_cpu(strategy):
    g = torch.Generator().manual_seed(0)
    cpu = bptt.CharRNN(7, 16, dtype=torch.float64, generator=g)
    gpu = bptt.CharRNN(7, 16, dtype=torch.float64, device="cuda")
    gpu.load_state_dict(cpu.state_dict())
    X, Y = torch.randint(0, 7, (4, 12), generator=g), torch.randint(0, 7, (4, 12), generator=g)
    a = bptt.estimate_gradient(cpu, X, Y, strategy, generator=torch.Generator().manual_seed(1))
    b = bptt.estimate_gradient(gpu, X, Y, strategy, generator=torch.Generator().manual_seed(1))
    for name in a:
        assert b[name].device.type == "cuda"
        torch.testing.assert_close(b[name].cpu(), a[name], rtol=1e-9, atol=1e-12)


@cuda
def test_a_trainer_runs_on_the_gpu():
    corpus = bptt.load_corpus("bundled", max_tokens=3000)
    small = {"max_tokens": 3000, "num_hiddens": 32, "batch_size": 8, "num_steps": 10, "epochs": 1}
    cfg = bptt.RunConfig(corpus="bundled", device="cuda", **small)
    trainer = bptt.Trainer(cfg, corpus)
    trainer.run()
    assert trainer.status == "finished" and trainer.model.W_hh.is_cuda
    assert trainer.predict("the", 5).startswith("the")


# -- threads from the container's CPU quota ---------------------------------------------------------


def _v2(tmp_path, cpu_max: str | None, nested: str | None = None):
    """A fake cgroup v2 tree: the root's cpu.max, and optionally the process's own cgroup below it."""
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory\n")
    if cpu_max is not None:
        (root / "cpu.max").write_text(cpu_max + "\n")
    proc = tmp_path / "proc_cgroup"
    proc.write_text("0::/\n" if nested is None else "0::/app/session\n")
    if nested is not None:
        (root / "app" / "session").mkdir(parents=True)
        (root / "app" / "cpu.max").write_text(nested + "\n")
    return {"root": root, "proc_cgroup": proc}


def _v1(tmp_path, quota: int, period: int = 100_000, folder: str = "cpu,cpuacct"):
    root = tmp_path / "cgroup"
    (root / folder).mkdir(parents=True)
    (root / folder / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (root / folder / "cpu.cfs_period_us").write_text(f"{period}\n")
    proc = tmp_path / "proc_cgroup"
    proc.write_text("1:cpu,cpuacct:/\n")
    return {"root": root, "proc_cgroup": proc}


@pytest.mark.parametrize(
    ("cpu_max", "nested", "cores"),
    [("150000 100000", None, 1.5), ("max 100000", None, None), ("max 100000", "50000 100000", 0.5),
     ("400000 100000", "200000 100000", 2.0), (None, None, None)],
)  # fmt: skip
def test_cgroup_v2_quota(tmp_path, cpu_max, nested, cores):
    assert device.cgroup_cpu_limit(**_v2(tmp_path, cpu_max, nested)) == cores


@pytest.mark.parametrize(("quota", "folder", "cores"), [(200_000, "cpu,cpuacct", 2.0), (-1, "cpu", None),
                                                        (78_000, "cpu", 0.78)])  # fmt: skip
def test_cgroup_v1_quota(tmp_path, quota, folder, cores):
    assert device.cgroup_cpu_limit(**_v1(tmp_path, quota, folder=folder)) == cores


def test_threads_follow_the_quota_not_the_host(tmp_path):
    host = len(os.sched_getaffinity(0))
    # Two slots under a one-and-a-half-core quota: one thread each, whatever the host has.
    assert device.threads_per_slot(2, environ={}, **_v2(tmp_path, "150000 100000")) == 1
    # A quota larger than the host does not add cores.
    (tmp_path / "big").mkdir()
    assert (
        device.threads_per_slot(1, environ={}, **_v2(tmp_path / "big", f"{(host + 8) * 100000} 100000"))
        == host
    )
    # A tenth of a core still runs one thread.
    (tmp_path / "tiny").mkdir()
    assert device.threads_per_slot(1, environ={}, **_v2(tmp_path / "tiny", "10000 100000")) == 1


def test_threads_override(tmp_path):
    cgroup = _v2(tmp_path, "150000 100000")
    assert device.threads_per_slot(2, environ={"BPTT_TORCH_THREADS": "3"}, **cgroup) == 3
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match="BPTT_TORCH_THREADS"):
            device.threads_per_slot(2, environ={"BPTT_TORCH_THREADS": bad}, **cgroup)
