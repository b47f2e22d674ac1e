"""Recordings and replays (bptt/hosting/replays.py): a recording holds what the trainer computed, a
shipped one starts exactly as a fresh run of its settings does, and a replay reads, step for step, as
the trainer read at that step, at speed × the clock's seconds.

References: the Trainer itself (a fresh run with the same seed and settings), its history and model;
the recorded wall-time column counted by brute force for the clock.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from bptt.cli import main as cli_main
from bptt.config import RunConfig
from bptt.corpora import load_corpus
from bptt.hosting.recordings import (
    COLUMNS,
    Recorder,
    ReplayError,
    load_shipped,
    read_recording,
    shipped,
    write_recording,
)
from bptt.hosting.replays import Replay, ReplayRun
from bptt.hosting.runs import RunRegistry
from bptt.i18n import use_language
from bptt.training import Trainer

F16_ULP = 2.0**-10  # one float16 unit in the last place, relative (rounding is at most half of it)
TINY = RunConfig(
    corpus="bundled",
    max_tokens=2_000,
    num_hiddens=32,
    epochs=3,
    device="cpu",
    batch_size=4,
    num_steps=10,
    truncation="regular",
    k=5,
)  # fmt: skip  (49 minibatches per epoch)
PREFIX = "time traveller"


def corpus_for(cfg: RunConfig):
    return load_corpus(
        cfg.corpus, tokenizer=cfg.tokenizer, max_tokens=cfg.max_tokens, max_vocab=cfg.max_vocab
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tolerance(dtype) -> float:
    """Relative rounding of a stored column: half an ulp of its type (float64: none)."""
    return {np.dtype(np.float16): 2.0**-11, np.dtype(np.float32): 2.0**-24}.get(np.dtype(dtype), 0.0)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A small run trained to the end, with what the trainer showed after each step, and its recording."""
    trainer = Trainer(TINY, corpus_for(TINY))
    recorder = Recorder(trainer, PREFIX)
    seen = []

    def after_step(record):
        recorder(record)
        seen.append({
            "step": trainer.step_count, "epoch": trainer.epoch, "perplexity": trainer.perplexity(),
            "tokens": trainer.tokens, "progress": trainer.progress, "wall_time": trainer.wall_time,
            "x0": trainer.last_window["X"][0].numpy().copy(),
            "xi0": trainer.last_window["xi"][:, 0].numpy().copy(),
            "epochs": len(trainer.history.epochs["epoch"]), "sample": trainer.predict(PREFIX, 50),
        })  # fmt: skip

    trainer.run(after_step)
    recorder.finish()
    path = tmp_path_factory.mktemp("rec") / "tiny.npz"
    write_recording(path, trainer, recorder, corpus_label="bundled")
    return trainer, seen, path, read_recording(path)


# -- the file ------------------------------------------------------------------------------------------


def test_a_recording_round_trips_within_its_column_types(recorded):
    trainer, _seen, path, rec = recorded
    frame = trainer.history.frame()
    with np.load(path, allow_pickle=False) as z:  # nothing in it needs unpickling
        assert all(z[k].dtype != object for k in z.files)
        stored = {c: z[f"h_{c}"].dtype for c in COLUMNS}
        assert z["dh"].dtype == np.float16 and z["window_x"].dtype == np.uint8
    assert stored["step"] == np.int32 and stored["tokens"] == np.int32 and stored["epoch"] == np.float32
    assert stored["wall_time"] == np.float32 and stored["loss"] == np.float16
    assert len(rec) == len(frame) == trainer.step_count
    for c in COLUMNS:
        want, got = frame[c].to_numpy(dtype=float), rec.frame[c].to_numpy(dtype=float)
        np.testing.assert_allclose(got, want, rtol=tolerance(stored[c]), atol=0, equal_nan=True, err_msg=c)
    np.testing.assert_allclose(rec.dh, trainer.history.dh_matrix(), rtol=2.0**-11)
    epochs = trainer.history.epoch_frame()
    np.testing.assert_array_equal(rec.epochs["tokens"], epochs["tokens"])
    np.testing.assert_allclose(rec.epochs["perplexity"], epochs["perplexity"], rtol=2.0**-24)
    assert rec.meta["settings"] == TINY.to_dict() and rec.cfg == TINY
    assert rec.meta["strategy"] == "regular:5" and rec.meta["status"] == "finished"
    assert rec.meta["torch"] == torch.__version__ and rec.meta["prefix"] == PREFIX
    assert rec.samples[-1] == trainer.predict(PREFIX, 50) and rec.sample_steps[-1] == trainer.step_count
    for name, p in trainer.model.named_parameters():
        np.testing.assert_array_equal(rec.weights[name], p.detach().numpy())


def test_files_that_are_not_recordings_are_refused_and_nothing_is_unpickled(tmp_path, recorded):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, meta=np.array([{"evil": 1}], dtype=object))
    cut = tmp_path / "cut.npz"
    with np.load(recorded[2], allow_pickle=False) as z:
        np.savez(cut, **{k: z[k] for k in z.files if k != "dh"})
    for path in (junk, pickled, cut, tmp_path / "missing.npz"):
        with pytest.raises(ReplayError, match="not a readable recording"):
            read_recording(path)
    assert zipfile.is_zipfile(pickled)  # it was a real npz: refused for its object array, not its form


def test_the_cli_records_a_run(tmp_path, capsys):
    path = tmp_path / "cli.npz"
    args = ["train", "--corpus", "bundled", "--max-tokens", "2000", "--num-hiddens", "16", "--epochs", "1",
            "--device", "cpu", "--record", str(path), "--quiet"]  # fmt: skip
    assert cli_main(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rec = read_recording(path)
    assert len(rec) == result["steps"] and rec.meta["perplexity"] == pytest.approx(result["perplexity"])
    assert rec.samples[-1] == result["prediction"] and rec.meta["corpus_label"] == "bundled"


# -- the shipped recordings ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", shipped())
def test_a_shipped_recording_begins_as_a_fresh_run_of_its_settings(key):
    """The first 20 steps of a fresh Trainer (same seed, same settings, this process's torch) equal the
    recording's first 20 rows within float16 rounding: the file is the run it says it is."""
    rec = load_shipped(key)
    trainer = Trainer(rec.cfg, corpus_for(rec.cfg))
    x0 = []
    for _ in range(20):
        trainer.step()
        x0.append(trainer.last_window["X"][0].numpy())
    fresh = trainer.history.frame()
    for c in ("loss", "grad_norm", "grad_norm_clipped", "norm_W_xh", "norm_W_hh", "norm_W_hq",
              "cut_fraction"):  # fmt: skip
        np.testing.assert_allclose(rec.frame[c].iloc[:20], fresh[c], rtol=F16_ULP, atol=1e-6, err_msg=c)
    np.testing.assert_array_equal(rec.frame["tokens"].iloc[:20], fresh["tokens"])
    np.testing.assert_allclose(rec.dh[:20], trainer.history.dh_matrix(), rtol=F16_ULP, atol=1e-7)
    np.testing.assert_array_equal(rec.window_x[:20], np.stack(x0))
    assert rec.meta["corpus_name"] == trainer.corpus.name and rec.meta["status"] == "finished"
    assert len(rec) == rec.cfg.epochs * trainer.batches_per_epoch


# -- the replay ------------------------------------------------------------------------------------------


def test_a_replay_reads_at_each_step_as_the_trainer_read(recorded):
    trainer, seen, _path, rec = recorded
    clock = FakeClock()
    replay = Replay(rec, speed=1.0, clock=clock)
    start = clock.now
    assert replay.step_count == 0 and replay.last_window is None and math.isnan(replay.perplexity())
    for s in seen[:-1]:  # the last step: the trainer says running until it next steps, the replay finished
        clock.now = start + float(rec.frame["wall_time"].iat[s["step"] - 1])  # its recorded time, float32
        assert replay.step_count == s["step"]
        assert replay.tokens == s["tokens"] and replay.epoch == s["epoch"] and replay.status == "running"
        assert replay.perplexity() == pytest.approx(s["perplexity"], rel=1e-3)
        assert replay.progress == pytest.approx(s["progress"], rel=1e-6)
        np.testing.assert_array_equal(replay.last_window["X"][0].numpy(), s["x0"])
        np.testing.assert_allclose(replay.last_window["xi"][:, 0].numpy(), s["xi0"], rtol=2.0**-11)
        df, dh, epochs = replay.snapshot()
        np.testing.assert_array_equal(dh, rec.dh[: s["step"]])
        np.testing.assert_allclose(dh, trainer.history.dh_matrix()[: s["step"]], rtol=2.0**-11)
        np.testing.assert_allclose(df["loss"], trainer.history.columns["loss"][: s["step"]], rtol=2.0**-11)
        assert (
            len(df) == len(dh) == s["step"] and df["step"].iat[-1] == s["step"] and len(epochs) == s["epochs"]
        )
        step, _text = replay.sample()
        assert step <= s["step"]
    clock.now += 1e6
    assert replay.done and replay.status == "finished" and replay.progress == 1.0
    assert replay.epoch == trainer.epoch == TINY.epochs
    assert replay.perplexity() == pytest.approx(trainer.perplexity())
    assert replay.message == trainer.message and replay.predict(PREFIX) == trainer.predict(PREFIX)


def test_the_replay_speaks_for_its_own_prefix_only(recorded):
    _trainer, seen, _path, rec = recorded
    clock = FakeClock()
    replay = Replay(rec, speed=1.0, clock=clock)
    assert replay.predict(PREFIX) == rec.samples[0]  # step 0: the initialisation's text
    last = next(s for s in seen if s["epochs"] == 1)["step"] - 1  # the last step of epoch 1
    clock.now += float(rec.frame["wall_time"].iat[last - 2])  # one step before it: still the first text
    assert replay.predict(PREFIX) == rec.samples[0]
    clock.now += float(rec.frame["wall_time"].iat[last - 1] - rec.frame["wall_time"].iat[last - 2])
    assert replay.step_count == last and replay.sample() == (last, rec.samples[1])
    assert replay.predict(PREFIX) == rec.samples[1] == seen[last - 1]["sample"]  # what the model wrote then
    other = replay.predict("the ", 50)
    assert PREFIX in other and rec.samples[1] in other and other != rec.samples[1]
    assert replay.predict(PREFIX, temperature=1.0) != rec.samples[1]


@pytest.mark.parametrize("speed", [1.0, 10.0, 100.0])
def test_a_replay_at_speed_s_shows_the_steps_of_s_times_the_elapsed_seconds(recorded, speed):
    _trainer, _seen, _path, rec = recorded
    clock = FakeClock()
    replay = Replay(rec, speed=speed, clock=clock)
    wall = rec.frame["wall_time"].to_numpy()
    shown = []
    for elapsed in np.linspace(0, 1.2 * wall[-1] / speed, 50):
        clock.now = 1000.0 + elapsed
        assert replay.step_count == int((wall <= speed * elapsed).sum())  # brute force over the column
        shown.append(replay.step_count)
    assert shown == sorted(shown) and shown[0] == 0 and shown[-1] == len(rec) and replay.done


def test_a_new_speed_goes_on_from_where_the_replay_is(recorded):
    _trainer, _seen, _path, rec = recorded
    clock = FakeClock()
    replay = Replay(rec, speed=1.0, clock=clock)
    wall = rec.frame["wall_time"].to_numpy()
    clock.now += wall[len(wall) // 3]
    before = replay.step_count
    replay.speed = 100.0
    assert replay.step_count == before
    clock.now += wall[len(wall) // 3] / 100.0
    assert replay.step_count == int((wall <= 2 * wall[len(wall) // 3]).sum())
    replay.speed = math.inf
    assert replay.done and replay.step_count == len(rec)
    with pytest.raises(ValueError):
        replay.speed = 0


def test_a_replay_run_is_named_as_one_and_keeps_its_last_weights(recorded):
    trainer, _seen, _path, rec = recorded
    runs = RunRegistry()
    run, _dropped = runs.add(rec.cfg, Replay(rec, speed=math.inf), ReplayRun)
    assert run.name == "#1 replay · regular (k=5)" and run.finished
    with use_language("zh"):
        assert run.name == "#1 回放 · 常规截断（k=5）"
    step = run.trainer.pin_snapshot()
    assert [s for s, _meta in run.trainer.snapshots()] == [step] == [len(rec)]
    model = run.trainer.snapshot_model(step)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p, dict(trainer.model.named_parameters())[name].detach(), rtol=0, atol=0)
    with pytest.raises(KeyError):
        run.trainer.snapshot_model(step - 1)
    assert run.trainer.run_for(1.0) == [] and run.trainer.step_count == len(rec)
    assert run.trainer.corpus.corpus == trainer.corpus.corpus  # the Gradient lab's minibatches


def test_readme_states_the_shipped_recordings_as_their_results_files_say():
    root = Path(__file__).resolve().parents[1]
    text = " ".join((root / "README.md").read_text().split())
    made = json.loads((root / "bptt" / "results" / "replays" / "replays.json").read_text())
    on_disk = {p.stem: p.stat().st_size for p in (root / "bptt" / "results" / "replays").glob("*.npz")}
    assert on_disk == {k: r["bytes"] for k, r in made["recordings"].items()} and set(on_disk) == set(
        shipped()
    )
    assert f"six files of {sum(on_disk.values()) / 1e6:.1f} MB in all" in text
    click = json.loads((root / "benchmarks" / "results" / "replay_open.json").read_text())["click_to_curves"]
    assert f"replay's curves drawn takes {click['10x']['median_seconds']:.2f} s" in text
