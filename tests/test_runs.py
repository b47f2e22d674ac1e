"""bptt.hosting.runs (the session's run registry) and the pure helpers the training page relies on: bounds and
URLs (bptt.config), exports (bptt.hosting.export), the segmentation rows (bptt.segmentation)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from bptt.config import FIELDS, MAX_BATCH_TOKENS, MAX_RUN_TOKENS, RunConfig, config_diff, from_mapping
from bptt.data import make_corpus
from bptt.hosting.export import metrics_csv, settings_json
from bptt.hosting.runs import MAX_RUNS, WORSENED_MARGIN, RunRegistry, summary, worsening
from bptt.segmentation import segmentation_rows
from bptt.training import Trainer


@dataclass
class FakeTrainer:
    """Just what the registry reads: a status."""

    status: str = "running"

    @property
    def done(self) -> bool:
        return self.status in ("finished", "diverged")


def _registry(statuses: list[str], cap: int = 3) -> RunRegistry:
    reg = RunRegistry(cap=cap)
    for s in statuses:
        reg.add(RunConfig(), FakeTrainer(s))
    return reg


# -- the registry --------------------------------------------------------------------------------------


def test_names_number_the_runs_and_use_the_books_notation():
    reg = RunRegistry()
    names = [
        reg.add(cfg, FakeTrainer())[0].name
        for cfg in [
            RunConfig(truncation="full"),
            RunConfig(truncation="regular", k=10),
            RunConfig(truncation="randomized", schedule="constant", pi=0.9),
            RunConfig(truncation="randomized", schedule="artbp", alpha=3.0, t0=10.0),
            RunConfig(truncation="randomized", schedule="linear", pi=0.9, pi_end=0.5),
        ]
    ]
    assert names == [
        "#1 full within each window",
        "#2 regular (k=10)",
        "#3 randomized (π=0.9)",
        "#4 randomized (ARTBP α=3, T0=10)",
        "#5 randomized (π 0.9→0.5)",
    ]


def test_the_cap_drops_the_oldest_finished_run_first():
    reg = _registry(["finished", "running", "diverged"])  # ids 1, 2, 3
    run, dropped = reg.add(RunConfig(), FakeTrainer())
    assert [r.id for r in dropped] == [1]
    assert reg.ids() == [2, 3, 4] and run.id == 4
    _, dropped = reg.add(RunConfig(), FakeTrainer())
    assert [r.id for r in dropped] == [3]  # 2 is older, but still live
    assert reg.ids() == [2, 4, 5]


def test_the_cap_holds_even_when_every_run_is_live():
    reg = _registry(["running"] * 3)
    _, dropped = reg.add(RunConfig(), FakeTrainer())
    assert [r.id for r in dropped] == [1]
    assert len(reg) == 3


def test_a_stopped_run_counts_as_finished_and_says_so():
    reg = _registry(["running", "running", "running"])
    reg.get(2).stopped = True
    assert reg.get(2).status == "stopped" and reg.get(2).finished
    assert reg.get(1).status == "running" and not reg.get(1).finished
    _, dropped = reg.add(RunConfig(), FakeTrainer())
    assert [r.id for r in dropped] == [2]


def test_the_default_cap_keeps_the_newest_max_runs():
    reg = RunRegistry()
    for _ in range(MAX_RUNS + 3):
        reg.add(RunConfig(), FakeTrainer("finished"))
    assert len(reg) == MAX_RUNS and reg.ids() == list(range(4, MAX_RUNS + 4))  # the 3 oldest dropped


def test_remove_and_clear():
    reg = _registry(["running", "finished"], cap=8)
    assert reg.remove(1).id == 1
    assert reg.remove(1) is None and reg.get(1) is None and 1 not in reg
    assert reg.ids() == [2]
    reg.clear()
    assert len(reg) == 0 and reg.list() == []
    assert reg.add(RunConfig(), FakeTrainer())[0].id == 3  # names stay unique within a session


def test_a_registry_needs_room_for_one_run():
    with pytest.raises(ValueError):
        RunRegistry(cap=0)


# -- settings ------------------------------------------------------------------------------------------


def test_widget_ranges_come_from_fields_with_open_bounds_excluded():
    assert FIELDS["num_steps"].bounds == (FIELDS["num_steps"].lo, FIELDS["num_steps"].hi)
    lo, hi = FIELDS["pi"].bounds
    assert 0 < lo <= 0.01 and hi == 1.0
    assert FIELDS["alpha"].bounds[0] > 1.0
    assert FIELDS["lr"].bounds[0] > 0
    with pytest.raises(ValueError):
        _ = FIELDS["corpus"].bounds


def test_widget_values_are_clamped_into_the_widget_ranges_with_notes():
    cfg, notes = from_mapping({"num_steps": 999, "pi": 0.0, "lr": math.nan, "truncation": "bogus"})
    values = cfg.to_dict()
    assert values["num_steps"] == 200 and values["pi"] == FIELDS["pi"].bounds[0]
    assert values["lr"] == RunConfig().lr and values["truncation"] == RunConfig().truncation
    assert any("num_steps=999 was adjusted to 200" in n for n in notes)
    assert values["batch_size"] == MAX_BATCH_TOKENS // 200  # 32 x 200 would be too many tokens
    assert len(notes) == 5


def test_widget_values_get_the_cross_field_bounds():
    cfg, notes = from_mapping({**RunConfig().to_dict(), "num_steps": 200, "batch_size": 128})
    values = cfg.to_dict()
    assert values["batch_size"] == MAX_BATCH_TOKENS // 200
    cfg, notes = from_mapping({**RunConfig().to_dict(), "max_tokens": 200_000, "epochs": 2_000})
    values = cfg.to_dict()
    assert values["epochs"] == MAX_RUN_TOKENS // 200_000
    assert any("epochs lowered" in n for n in notes)


def test_valid_values_pass_through_unchanged():
    cfg = RunConfig(truncation="randomized", schedule="linear", pi=0.8, pi_end=0.3, lr=0.5, seed=7)
    assert from_mapping(cfg.to_dict()) == (cfg, [])


@pytest.mark.parametrize(
    "params",
    [
        {"num_steps": "-5", "lr": "nan", "pi": "0", "k": "0", "batch_size": "abc"},
        {"alpha": "0.5"},
        {"alpha": "1", "t0": "inf", "truncation": "RANDOMIZED", "device": "tpu"},
        {"lr": "1e-9", "epochs": ["3", "4"], "unknown": "x"},
    ],
)
def test_a_query_never_raises_and_is_explained(params):
    cfg, notes = from_mapping(params)
    assert notes  # every one of these needs a word to the user
    for name in ("num_steps", "pi", "alpha", "lr", "k"):
        lo, hi = FIELDS[name].bounds
        assert lo <= getattr(cfg, name) <= hi


def test_a_config_survives_the_query_string():
    cfg = RunConfig(corpus="bundled", truncation="randomized", schedule="artbp", alpha=2.5, t0=20.0, lr=0.1)
    assert from_mapping(cfg.to_query()) == (cfg, [])


def test_config_diff_names_what_changed():
    assert config_diff(RunConfig(), RunConfig()) == []
    assert config_diff(RunConfig(), RunConfig(num_steps=50, lr=0.5)) == [
        "num_steps: 35 → 50",
        "lr: 1.0 → 0.5",
    ]


# -- the segmentation rows and the exports -------------------------------------------------------------


def test_segmentation_rows_compare_with_regular_and_full():
    xi = np.array([0.0, 1.25, 0.0, 1.25, 1.25, 1.25])
    rows = segmentation_rows(RunConfig(truncation="randomized", k=2), xi)
    assert list(rows) == ["this run: randomized (π=0.9)", "regular (k=2)", "full within each window"]
    np.testing.assert_array_equal(rows["regular (k=2)"], [0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(rows["full within each window"], [0, 1, 1, 1, 1, 1])
    rows = segmentation_rows(RunConfig(truncation="regular", k=3), np.array([0.0, 1, 1, 0, 1, 1]))
    assert list(rows) == ["this run: regular (k=3)", "full within each window"]


@pytest.fixture(scope="module")
def tiny_run():
    corpus = make_corpus("the time traveller for so it will be convenient to speak of him " * 40, "tiny")
    cfg = RunConfig(max_tokens=2_000, num_steps=10, batch_size=4, num_hiddens=8, epochs=1, device="cpu")
    reg = RunRegistry()
    run, _ = reg.add(cfg, Trainer(cfg, corpus))
    run.trainer.run_for(10.0, max_steps=5)
    return run


def test_metrics_csv_has_one_row_per_step(tiny_run):
    lines = metrics_csv(tiny_run.trainer).strip().splitlines()
    assert lines[0].split(",")[:4] == ["step", "epoch", "tokens", "loss"]
    assert len(lines) == 1 + tiny_run.trainer.step_count == 6


def test_settings_json_reads_back_into_the_same_config(tiny_run):
    data = json.loads(settings_json(tiny_run))
    assert data["name"] == tiny_run.name and data["corpus_name"] == "tiny"
    assert from_mapping({k: str(v) for k, v in data["settings"].items()})[0] == tiny_run.cfg


def test_summary_has_a_row_per_run(tiny_run):
    table = summary([tiny_run])
    assert table.loc[0, "run"] == tiny_run.name and table.loc[0, "step"] == 5
    assert table.loc[0, "status"] == "running"
    assert not any("_" in h for h in table.columns), "headers for people, not code names"
    done, total = table.loc[0, "epoch"].split("/")
    assert (int(done), int(total)) == (tiny_run.trainer.epoch, tiny_run.cfg.epochs)  # whole epochs


# -- a finished run that got worse ---------------------------------------------------------------------


def test_a_run_ending_at_or_near_its_best_has_not_worsened():
    assert worsening([]) is None
    assert worsening([9.0, 6.0, 5.0]) is None  # still falling
    assert worsening([9.0, 5.0, 5.0 * (1 + WORSENED_MARGIN)]) is None  # exactly at the margin: jitter


def test_a_run_ending_above_its_best_by_more_than_the_margin_has_worsened():
    worse = worsening([9.0, 5.0, 5.2, 5.0 * (1 + WORSENED_MARGIN) + 1e-9])
    assert worse is not None and (worse.best, worse.best_epoch) == (5.0, 2)
    worse = worsening([20.0, 4.5, 4.5, 7.0])  # a tie for the best names its first epoch
    assert (worse.best, worse.best_epoch, worse.final) == (4.5, 2, 7.0)


def test_a_run_ending_on_a_non_finite_perplexity_has_worsened():
    worse = worsening([9.0, 5.0, math.inf])
    assert (worse.best, worse.best_epoch) == (5.0, 2) and math.isinf(worse.final)
    assert worsening([math.nan, math.nan]).best_epoch == 0


def test_the_summary_names_a_worsened_run(tiny_run):
    epochs = tiny_run.trainer.history.epochs["perplexity"]
    tiny_run.trainer.status = "finished"
    try:
        epochs[:] = [9.0, 5.0, 5.1]
        assert summary([tiny_run]).loc[0, "status"] == "finished"
        epochs[:] = [9.0, 5.0, 7.0]
        assert summary([tiny_run]).loc[0, "status"] == "worsened"
    finally:
        epochs.clear()
