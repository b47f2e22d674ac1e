"""The CUDA path: the same numbers on a GPU (skipped on machines without one, as CI's)."""

import pytest
import torch

import bptt
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
