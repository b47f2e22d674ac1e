"""The Gradient lab's shipped trained weights (bptt/results/lab_trained.*, written by
benchmarks/lab_snapshot.py): they load as plain tensors only, are what their metadata says (the book's
experiment on the bundled corpus; the perplexity recomputed over the corpus), and the script reproduces
the start of their training from the same seed."""

from __future__ import annotations

import importlib.util
import json
import math
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from bptt.corpora import load_corpus
from bptt.data import num_batches
from bptt.lab import reports as gradlab

ROOT = Path(__file__).resolve().parents[1]


def script():
    spec = importlib.util.spec_from_file_location("lab_snapshot", ROOT / "benchmarks" / "lab_snapshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def meta():
    return gradlab.trained_meta()


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("bundled", max_tokens=10_000)


def test_the_snapshot_is_small_float16_plain_tensors(meta):
    pt, _json = gradlab.trained_paths()
    assert pt.stat().st_size == meta["bytes"] < 400_000
    with pt.open("rb") as f:
        saved = torch.load(f, weights_only=True)
    assert set(saved) == {"W_xh", "W_hh", "b_h", "W_hq", "b_q"}  # the char-RNN of d2l §8.5
    assert all(t.dtype == torch.float16 for t in saved.values())
    model = gradlab.trained_model()
    assert model.W_hh.dtype == torch.float32
    assert torch.equal(model.W_hh, saved["W_hh"].float())  # float16 -> float32 is exact


def test_the_metadata_is_the_books_experiment_on_the_bundled_corpus(meta, corpus):
    assert meta["settings"] == script().config().to_dict()
    s = meta["settings"]
    assert (s["num_hiddens"], s["num_steps"], s["batch_size"], s["epochs"]) == (256, 35, 32, 500)
    assert (s["optimizer"], s["lr"], s["clip"], s["truncation"]) == ("sgd", 1.0, 1.0, "full")
    assert meta["corpus"] == corpus.name and meta["vocab_size"] == len(corpus.vocab) == 28
    assert meta["tokens"] == len(corpus) and meta["epochs"] == 500
    assert meta["steps"] == 500 * num_batches(len(corpus), 32, 35, "sequential")
    assert len(meta["commit"]) >= 40


def test_the_perplexity_recomputed_over_the_corpus_is_the_metadatas(meta, corpus):
    model = gradlab.trained_model()
    ppl = gradlab.corpus_perplexity(model, corpus, 32, 35)
    assert math.isclose(ppl, meta["perplexity"], rel_tol=1e-6)
    # The training's own last epoch (a random offset, the weights still moving, float32) agrees within 5 %.
    assert abs(ppl / meta["train_perplexity"] - 1) < 0.05
    # A trained model, far from the initialisation (which predicts about uniformly over 28 tokens).
    init = gradlab.corpus_perplexity(gradlab.init_model(28, 256, 0), corpus, 32, 35)
    assert ppl < 1.5 and init > 25


@torch.no_grad()
def test_corpus_perplexity_against_a_token_by_token_reference(corpus):
    """corpus_perplexity against a plain step-by-step reference (one token at a time, state carried)."""
    model = gradlab.init_model(28, 8, 1)
    with torch.no_grad():
        model.W_hh.mul_(50)  # weights that make the state matter
    data = torch.as_tensor(corpus.corpus[:701])
    B, T = 4, 7
    n = (len(data) - 1) // B * B
    X, Y = data[:n].reshape(B, -1), data[1 : n + 1].reshape(B, -1)
    h = torch.zeros(B, 8)
    total, count = 0.0, 0
    for t in range(T * (X.shape[1] // T)):
        h = torch.tanh(model.W_xh[X[:, t]] + h @ model.W_hh + model.b_h)
        logp = torch.log_softmax(h @ model.W_hq + model.b_q, dim=1)
        total -= float(logp[torch.arange(B), Y[:, t]].sum())
        count += B

    class Small:
        pass

    small = Small()
    small.corpus = corpus.corpus[:701]
    assert math.isclose(gradlab.corpus_perplexity(model, small, B, T), math.exp(total / count), rel_tol=1e-5)


def test_the_script_reproduces_the_start_of_the_training(meta):
    again = script().fingerprint()
    want = meta["fingerprint"]
    assert again["steps"] == want["steps"] == script().FIRST_STEPS
    for name in ("perplexity", "W_hh_fro", "W_hh_sum"):
        assert math.isclose(again[name], want[name], rel_tol=1e-5, abs_tol=1e-6), name


def test_a_snapshot_of_another_shape_is_refused(tmp_path):
    pt, js = gradlab.trained_paths()
    shutil.copy(js, tmp_path / js.name)
    saved = torch.load(pt, weights_only=True)
    saved["W_hh"] = saved["W_hh"][:10]
    torch.save(saved, tmp_path / pt.name)
    with pytest.raises(ValueError, match="does not hold"):
        gradlab.trained_model(tmp_path)


class Payload:
    def __reduce__(self):  # what unpickling would run
        return (print, ("unpickled",))


def test_a_snapshot_holding_objects_is_not_unpickled(tmp_path):
    pt, js = gradlab.trained_paths()
    shutil.copy(js, tmp_path / js.name)
    with (tmp_path / pt.name).open("wb") as f:
        torch.save({"W_hh": Payload()}, f, pickle_module=pickle)
    with pytest.raises(pickle.UnpicklingError):
        gradlab.trained_model(tmp_path)
    assert json.loads((tmp_path / js.name).read_text())["vocab_size"] == 28
