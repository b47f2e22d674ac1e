"""One Strategy (bptt/truncation/strategy.py): every strategy the CLIs, the URL and Compare accept goes
through one parser with one meaning. parse -> key -> parse is the identity, the title reads the same in
both languages wherever it is shown, and the gates are the ones the grammar names (ARTBP: alpha, then T0).
"""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bptt.cli import build_parser, main
from bptt.cli.lab import DEFAULT_STRATEGIES
from bptt.compare.results import SHIPPED, load_shipped
from bptt.compare.runner import Spec
from bptt.config import FIELDS, RunConfig, from_mapping
from bptt.i18n import use_language
from bptt.lab import reports
from bptt.truncation import ARTBPPi, ConstantPi, Full, LinearPi, Randomized, Regular, Strategy
from pages.ui.compare import OPTIONS

T = 12

# Written by hand from the grammar (not by the code under test): text -> (RunConfig fields, gates, en, zh)
CASES = {
    "full": ({"truncation": "full"}, Full(), "full within each window", "窗口内完全计算"),
    "stream": (
        {"truncation": "stream", "sampler": "sequential"},
        Full(),
        "full over the whole sequence",
        "完全计算（整个序列）",
    ),
    "regular:5": ({"truncation": "regular", "k": 5}, Regular(5), "regular (k=5)", "常规截断（k=5）"),
    "randomized:0.9": (
        {"truncation": "randomized", "schedule": "constant", "pi": 0.9},
        Randomized(ConstantPi(0.9)),
        "randomized (π=0.9)",
        "随机截断（π=0.9）",
    ),
    "linear:0.9:0.5": (
        {"truncation": "randomized", "schedule": "linear", "pi": 0.9, "pi_end": 0.5},
        Randomized(LinearPi(0.9, 0.5, T)),
        "randomized (π 0.9→0.5)",
        "随机截断（π 0.9→0.5）",
    ),
    "artbp:3:10": (
        {"truncation": "randomized", "schedule": "artbp", "alpha": 3.0, "t0": 10.0},
        Randomized(ARTBPPi(alpha=3.0, t0=10.0)),
        "randomized (ARTBP α=3, T0=10)",
        "随机截断（ARTBP α=3，T0=10）",
    ),
    "artbp:1.5:40": (
        {"truncation": "randomized", "schedule": "artbp", "alpha": 1.5, "t0": 40.0},
        Randomized(ARTBPPi(alpha=1.5, t0=40.0)),
        "randomized (ARTBP α=1.5, T0=40)",
        "随机截断（ARTBP α=1.5，T0=40）",
    ),
}


def accepted_strings() -> list[str]:
    """Every strategy string the product offers or has written: Compare's picker, the defaults of both
    CLI subcommands, the shipped results' keys, the lab's strategies and the cases above."""
    compare_default = build_parser().parse_args(["compare", "--out", "x.json"]).strategies
    shipped = [s for name in SHIPPED for s in load_shipped(name)["spec"]["strategies"]]
    shipped += [s for name in SHIPPED for s in load_shipped(name)["runs"]["strategy"]]
    lab = [s.key for s in reports.lab_strategies(4, (0.5, 0.9), (10.0, 50.0))]
    texts = [*OPTIONS["time_machine"], *OPTIONS["synthetic"], *compare_default, *DEFAULT_STRATEGIES]
    return sorted({*texts, *shipped, *lab, *CASES})


@pytest.mark.parametrize("text", accepted_strings())
def test_every_accepted_string_round_trips_through_the_one_parser(text):
    s = Strategy.parse(text)
    assert s.key == text, "every string the product writes is already in its canonical spelling"
    assert Strategy.parse(s.key) == s
    assert Strategy.of_config(RunConfig(**s.config_fields())) == s  # through the URL's / CLI's fields
    assert s.gates(T) == Strategy.parse(s.key).gates(T)
    en = s.title()
    with use_language("zh"):
        zh = Strategy.parse(text).title()
    assert zh != en and re.search("[\u4e00-\u9fff]", zh), (en, zh)  # a real translation


@pytest.mark.parametrize("text", sorted(CASES))
def test_each_strategy_means_what_the_grammar_says(text):
    fields, gates, en, zh = CASES[text]
    s = Strategy.parse(text)
    assert s.config_fields() == fields
    assert s.gates(T) == gates
    assert s.title() == en and Strategy.title_of(text) == en
    with use_language("zh"):
        assert s.title() == zh
    # the gates drawn are the same tensor, seed for seed
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(s.gates(T).gates(5, T, g1), gates.gates(5, T, g2))


@pytest.mark.parametrize("text", sorted(CASES))
def test_compare_the_train_cli_and_the_url_read_a_strategy_alike(text):
    """Compare's Spec, the `train` CLI's flags and a link's query give the same RunConfig fields."""
    fields, gates, _en, _zh = CASES[text]
    spec = Spec(base=RunConfig(), strategies=(text,), seeds=(0,))
    cfg = spec.config(spec.strategies[0], 0)
    assert {k: getattr(cfg, k) for k in fields} == fields
    flags = [x for k, v in fields.items() for x in ("--" + k.replace("_", "-"), str(v))]
    args = build_parser().parse_args(["train", *flags])
    assert {k: getattr(args, k) for k in fields} == fields
    url_cfg, notes = from_mapping(RunConfig(**fields).to_query())
    assert notes == [] and Strategy.of_config(url_cfg) == Strategy.parse(text)
    assert Strategy.of_config(url_cfg).gates(T) == gates


def test_the_gradlab_cli_reads_artbp_as_alpha_then_t0(capsys):
    args = ["gradlab", "--num-hiddens", "8", "--num-steps", "6", "--batch-size", "2", "--draws", "5"]
    assert main([*args, "--max-tokens", "2000", "--strategy", "artbp:1.5:40"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["estimators"]
    assert (row["strategy"], row["kind"], row["value"]) == ("artbp:1.5:40", "artbp", 40.0)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("artbp:50", "artbp:ALPHA:T0"),  # one number: refused, not read as T0 with a hidden alpha
        ("artbp:1:5", "ARTBP needs"),
        ("regular", "unknown strategy"),
        ("regular:5.5", "whole number"),
        ("regular:0", ">= 1"),
        ("randomized:0", "(0, 1]"),
        ("randomized:1.5", "(0, 1]"),
        ("randomized:nan", "finite"),
        ("linear:0.9", "unknown strategy"),
        ("full:3", "unknown strategy"),
        ("sideways:3", "unknown strategy"),
        ("", "unknown strategy"),
    ],
)
def test_bad_strategies_are_refused_with_a_message(text, said):
    with pytest.raises(ValueError, match=None) as info:
        Strategy.parse(text)
    assert said in str(info.value)
    assert Strategy.title_of(text) == text  # a picker shows what was typed, and the error says why
    with pytest.raises(ValueError):
        Spec(base=RunConfig(), strategies=(text,), seeds=(0,))


def test_the_gradlab_cli_refuses_artbp_with_one_number(capsys):
    assert main(["gradlab", "--strategy", "artbp:50"]) == 2
    assert "artbp:ALPHA:T0" in capsys.readouterr().err


def test_spec_keeps_each_strategy_once_in_its_key():
    spec = Spec(base=RunConfig(), strategies=(" Regular:05", "regular:5", "ARTBP:3:10.0"), seeds=(0,))
    assert spec.strategies == ("regular:5", "artbp:3:10")


def test_the_lab_results_files_old_labels_name_the_same_strategies():
    from test_readme_figures import lab_numbers_module

    module = lab_numbers_module()
    assert set(module.OLD_KEYS.values()) == {s.key for s in module.STRATEGIES}
    assert Strategy.parse(module.OLD_KEYS["ARTBP T0=50"]) == Strategy("artbp", alpha=3.0, t0=50.0)


numbers = st.floats(0.01, 1.0, allow_nan=False)
drawn = st.one_of(
    st.just(Strategy("full")),
    st.builds(lambda k: Strategy("regular", k=k), st.integers(1, 10_000)),
    st.builds(lambda p: Strategy("randomized", pi=p), numbers),
    st.builds(lambda p, q: Strategy("linear", pi=p, pi_end=q), numbers, numbers),
    st.builds(
        lambda a, t: Strategy("artbp", alpha=a, t0=t),
        st.floats(1.001, 10.0, allow_nan=False),
        st.floats(2.0, 1000.0, allow_nan=False),
    ),
)


@settings(max_examples=300, deadline=None)
@given(drawn)
def test_parse_key_parse_is_the_identity_for_any_strategy(s):
    assert Strategy.parse(s.key) == s
    assert Strategy.parse(s.key).key == s.key
    assert Strategy.parse(f"  {s.key.upper()} ") == s
    if _in_config_bounds(s):
        assert Strategy.of_config(RunConfig().replace(**s.config_fields())) == s


def _in_config_bounds(s: Strategy) -> bool:
    for name, value in s.config_fields().items():
        f = FIELDS[name]
        if f.kind is not str and not (f.bounds[0] <= value <= f.bounds[1]):
            return False
    return True


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["truncation", "schedule", "k", "pi", "pi_end", "alpha", "t0"]),
        st.one_of(
            st.text(max_size=8),
            st.floats(),
            st.sampled_from(["full", "regular", "randomized", "artbp", "linear", "constant"]),
        ),
    )
)
def test_every_url_names_a_strategy_that_round_trips(params):
    cfg, _notes = from_mapping(params)
    s = Strategy.of_config(cfg)
    assert Strategy.parse(s.key) == s
    assert Strategy.of_config(cfg.replace(**s.config_fields())) == s and math.isfinite(s.value)
