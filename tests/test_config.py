"""The run configuration: one validator, and URL/query parsing that clamps and never raises."""

import argparse
import dataclasses
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bptt.config import (
    BOOK_EXPERIMENT,
    FIELDS,
    MAX_BATCH_TOKENS,
    MAX_RUN_TOKENS,
    ConfigError,
    RunConfig,
    from_mapping,
)
from bptt.truncation import ARTBPPi, Strategy


def test_defaults_are_the_books_experiment():
    c = BOOK_EXPERIMENT
    assert (c.num_steps, c.batch_size, c.num_hiddens, c.max_tokens, c.epochs) == (35, 32, 256, 10_000, 500)
    assert (c.optimizer, c.lr, c.clip, c.sampler, c.truncation, c.k) == (
        "sgd",
        1.0,
        1.0,
        "sequential",
        "full",
        10,
    )


def test_the_books_experiment_is_its_regular_truncation_at_num_steps_and_regular_k_differs():
    """The book's experiment backpropagates through each window of num_steps (the state detached in
    between, d2l §8.7.1.2): "full" within the window has exactly the gates of regular truncation at
    k = num_steps. The default k of regular truncation is below num_steps, so choosing "regular" cuts
    inside the window and differs from "full"."""
    c = BOOK_EXPERIMENT
    T = c.num_steps
    full = Strategy.of_config(c).gates(T).gates(4, T)
    assert torch.equal(full, Strategy.of_config(c.replace(truncation="regular", k=T)).gates(T).gates(4, T))
    regular = Strategy.of_config(c.replace(truncation="regular")).gates(T).gates(4, T)
    assert c.k < T and not torch.equal(regular, full)
    assert int((regular[:, 0] == 0).sum()) == -(-T // c.k)  # a cut at 0, k, 2k, ... of the window


@pytest.mark.parametrize(
    "field, bad",
    [
        ("pi", 0.0),
        ("pi", -0.5),
        ("pi", 1.5),
        ("k", 0),
        ("num_steps", 1),
        ("num_hiddens", 100_000),
        ("lr", 0.0),
        ("lr", math.nan),
        ("clip", -1.0),
        ("epochs", 0),
        ("batch_size", 2.5),
        ("truncation", "tbptt"),
        ("alpha", 1.0),
        ("max_tokens", math.inf),
        ("seed", True),
        ("corpus", None),
    ],
)
def test_every_out_of_range_value_is_refused_with_its_name(field, bad):
    with pytest.raises(ConfigError, match=field):
        RunConfig(**{field: bad})


def test_cross_field_limits_for_a_shared_host():
    with pytest.raises(ConfigError, match="batch_size x num_steps"):
        RunConfig(batch_size=128, num_steps=200)
    with pytest.raises(ConfigError, match="epochs x max_tokens"):
        RunConfig(epochs=2000, max_tokens=200_000)
    # The limit is inclusive: batch_size x num_steps exactly MAX_BATCH_TOKENS is accepted, one row more
    # is refused (num_steps: the longest window that divides the limit, so that it can be met exactly).
    steps = max(n for n in range(1, 201) if MAX_BATCH_TOKENS % n == 0 and MAX_BATCH_TOKENS // n <= 128)
    top = MAX_BATCH_TOKENS // steps
    cfg = RunConfig(batch_size=top, num_steps=steps)
    assert cfg.batch_size * cfg.num_steps == MAX_BATCH_TOKENS
    with pytest.raises(ConfigError, match="batch_size x num_steps"):
        RunConfig(batch_size=top + 1, num_steps=steps)


def test_query_round_trip_is_exact():
    cfg = RunConfig(truncation="randomized", schedule="artbp", alpha=2.5, t0=37.5, lr=0.00123456789, seed=42)
    back, notes = from_mapping(cfg.to_query())
    assert back == cfg and notes == []


@pytest.mark.parametrize(
    "params, expect, note",
    [
        ({"num_steps": "-5"}, ("num_steps", 2), "adjusted"),
        ({"num_steps": "1e9"}, ("num_steps", 200), "adjusted"),
        ({"lr": "nan"}, ("lr", 1.0), "ignored"),
        ({"lr": "inf"}, ("lr", 1.0), "ignored"),
        ({"pi": "0"}, ("pi", 0.01), "adjusted"),
        ({"pi": "-3"}, ("pi", 0.01), "adjusted"),
        ({"pi": "7"}, ("pi", 1.0), "adjusted"),
        ({"k": "0"}, ("k", 1), "adjusted"),
        ({"batch_size": "abc"}, ("batch_size", 32), "ignored"),
        ({"truncation": "<script>"}, ("truncation", "full"), "ignored"),
        ({"truncation": " Randomized "}, ("truncation", "randomized"), None),
        ({"epochs": ["3", "4"]}, ("epochs", 4), None),
    ],
)
def test_absurd_query_values_are_clamped_with_a_note(params, expect, note):
    cfg, notes = from_mapping(params)
    assert getattr(cfg, expect[0]) == expect[1]
    if note:
        assert note in notes[0] and expect[0] in notes[0]
    else:
        assert notes == []


def test_query_cross_field_overflow_shrinks_the_batch():
    cfg, notes = from_mapping({"num_steps": "200", "batch_size": "128"})
    assert cfg.num_steps == 200 and cfg.batch_size * cfg.num_steps <= MAX_BATCH_TOKENS
    assert any("batch_size lowered" in n for n in notes)
    cfg, notes = from_mapping({"epochs": "2000", "max_tokens": "200000"})
    assert cfg.epochs * cfg.max_tokens <= MAX_RUN_TOKENS and any("epochs lowered" in n for n in notes)


query_values = st.one_of(
    st.text(max_size=30),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["nan", "-inf", "1e400", "", " ", "0x10", "None", "true", "１２"]),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*FIELDS, "junk", "__class__"]), query_values, max_size=12))
def test_from_mapping_never_raises_and_always_gives_a_valid_config(params):
    cfg, notes = from_mapping(params)  # a RunConfig validates itself when built: no exception is the check
    assert all(isinstance(n, str) and len(n) < 300 for n in notes)
    Strategy.of_config(cfg).gates(
        cfg.num_steps
    )  # every config the URL can produce builds a strategy (pi in (0, 1], valid ARTBP)


@settings(max_examples=200, deadline=None)
@given(alpha=st.floats(1.0001, 10.0), t0=st.floats(2.0, 1000.0))
def test_every_allowed_artbp_setting_gives_pi_in_zero_one(alpha, t0):
    import torch

    pi = ARTBPPi(alpha, t0).pi(1, torch.tensor([1, 10, 1000]))
    assert torch.all(pi > 0) and torch.all(pi <= 1)


# ---------------------------------------------------------------------------------------------------
# One declaration per setting: RunConfig's field metadata makes FIELDS, the CLI flags, the URL, the widgets

# The flags each subcommand had before they were generated (written by hand): all must keep working.
OLD_FLAGS = {
    "train": {"--corpus", "--tokenizer", "--max-tokens", "--max-vocab", "--num-steps", "--batch-size",
              "--num-hiddens", "--truncation", "--k", "--schedule", "--pi", "--pi-end", "--alpha", "--t0",
              "--sampler", "--optimizer", "--lr", "--clip", "--epochs", "--seed", "--device"},
    "gradlab": {"--corpus", "--max-tokens", "--num-steps", "--num-hiddens", "--batch-size", "--seed"},
}  # fmt: skip
OLD_FLAGS["compare"] = OLD_FLAGS["train"] - {"--truncation", "--k", "--schedule", "--pi", "--pi-end",
                                             "--alpha", "--t0", "--seed"}  # fmt: skip
NOT_SETTINGS = {  # each subcommand's own flags, beside the settings
    "train": {"-h", "--help", "--metrics", "--prefix", "--quiet", "--record"},
    "compare": {"-h", "--help", "--task", "--d", "--strategies", "--seeds", "--budget", "--seconds", "--out",
                "--quiet"},
    "gradlab": {"-h", "--help", "--draws", "--eps", "--strategy"},
}  # fmt: skip


def subcommand_flags(command: str) -> set[str]:
    from bptt.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {o for a in sub.choices[command]._actions for o in a.option_strings}


def test_every_setting_is_declared_once_with_its_metadata():
    names = [f.name for f in dataclasses.fields(RunConfig)]
    assert list(FIELDS) == names, "a RunConfig field without setting(...) metadata"
    for f in dataclasses.fields(RunConfig):
        meta, spec = f.metadata, FIELDS[f.name]
        assert meta["label"] and meta["help"] and set(meta["cli"]) <= {"train", "compare", "gradlab"}, f.name
        default = f.default
        if spec.kind is str:
            assert spec.choices and default in spec.choices and all(spec.choice_labels.values()), f.name
        else:
            assert isinstance(default, spec.kind) and spec.bounds[0] <= default <= spec.bounds[1], f.name


@pytest.mark.parametrize("command", ["train", "compare", "gradlab"])
def test_the_cli_flags_are_exactly_the_settings_each_subcommand_takes(command):
    settings_flags = subcommand_flags(command) - NOT_SETTINGS[command]
    assert settings_flags == {f.flag for f in FIELDS.values() if command in f.cli}
    assert settings_flags == OLD_FLAGS[command]  # the same flags as before, none lost or added


def test_train_takes_every_setting_and_the_url_holds_every_setting():
    assert subcommand_flags("train") - NOT_SETTINGS["train"] == {f.flag for f in FIELDS.values()}
    cfg = RunConfig(truncation="randomized", schedule="linear", pi=0.7, pi_end=0.3, k=7, seed=5, lr=0.5)
    assert set(cfg.to_query()) == set(FIELDS)
    assert from_mapping(cfg.to_query()) == (cfg, [])


def test_the_flags_parse_into_the_settings_they_name():
    from bptt.cli import build_parser
    from bptt.cli.flags import setting_values

    args = build_parser().parse_args(["train", "--pi-end", "0.25", "--max-tokens", "2000", "--t0", "40"])
    values = setting_values(args, "train")
    assert set(values) == set(FIELDS) - {"corpus"}
    assert (values["pi_end"], values["max_tokens"], values["t0"]) == (0.25, 2000, 40.0)
    args = build_parser().parse_args(["gradlab", "--num-steps", "12"])
    assert setting_values(args, "gradlab") == {"max_tokens": 10_000, "num_steps": 12, "batch_size": 32,
                                               "num_hiddens": 256, "seed": 0}  # fmt: skip
    assert args.corpus == "bundled"  # the lab's own default


def test_the_widget_table_is_the_fields_metadata():
    from pages.ui.settings import widget_table

    table = widget_table()
    assert list(table) == list(FIELDS)
    for name, row in table.items():
        f = dataclasses.fields(RunConfig)[list(FIELDS).index(name)]
        assert (row["label"], row["help"]) == (f.metadata["label"], f.metadata["help"])
        if "choices" in row:
            assert row["choices"] == f.metadata["choices"]
        else:
            assert row["bounds"] == FIELDS[name].bounds
