"""The comparison runner and its statistics, against numpy/scipy on known inputs."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from bptt.compare.results import SHIPPED, load_shipped, results, write_results
from bptt.compare.runner import Comparison, Spec
from bptt.compare.stats import aggregate, holm, pairwise_vs_best, summary, verdict, welch
from bptt.config import ConfigError, RunConfig

TINY = RunConfig(num_steps=12, batch_size=4, num_hiddens=8, max_tokens=1_000, epochs=2, optimizer="adam",
                 lr=0.01)  # fmt: skip


def tiny_spec(**kw) -> Spec:
    base = dict(base=TINY, strategies=("full", "regular:3", "randomized:0.8"), seeds=(0, 1), task="synthetic",
                d=4)  # fmt: skip
    return Spec(**{**base, **kw})


def test_aggregate_is_numpys_mean_sd_min_max_on_a_shared_grid():
    rng = np.random.default_rng(0)
    x = np.linspace(0.0, 100.0, 11)
    Y = {s: rng.normal(10, 2, (3, 11)) for s in ("full", "regular:5")}
    curves = pd.DataFrame(
        [{"strategy": s, "seed": i, "tokens": xv, "perplexity": Y[s][i, j]}
         for s in Y for i in range(3) for j, xv in enumerate(x)]
    )  # fmt: skip
    agg = aggregate(curves, "tokens", "perplexity", points=11)
    for s, ys in Y.items():
        a = agg[agg["strategy"] == s]
        np.testing.assert_allclose(a["tokens"], x)
        np.testing.assert_allclose(a["mean"], ys.mean(0), rtol=1e-12)
        np.testing.assert_allclose(a["sd"], ys.std(0, ddof=1), rtol=1e-12)
        np.testing.assert_allclose(a["min"], ys.min(0))
        np.testing.assert_allclose(a["max"], ys.max(0))
        assert (a["n"] == 3).all()


def test_aggregate_interpolates_and_leaves_a_shorter_run_out_past_its_end():
    curves = pd.DataFrame({"strategy": "s", "seed": [0, 0, 1, 1, 1], "tokens": [0, 10, 0, 10, 20],
                           "perplexity": [4.0, 2.0, 6.0, 4.0, 3.0]})  # fmt: skip
    agg = aggregate(curves, "tokens", "perplexity", points=5)  # grid 0, 5, 10, 15, 20
    np.testing.assert_allclose(agg["mean"], [5.0, 4.0, 3.0, 3.5, 3.0])
    np.testing.assert_array_equal(agg["n"], [2, 2, 2, 1, 1])
    assert np.isnan(agg["sd"].iloc[-1]) and agg["sd"].iloc[0] == pytest.approx(np.std([4, 6], ddof=1))


def test_welch_matches_scipy():
    import scipy.stats as stats  # requirements-dev.txt: a reference, not a dependency of the app

    rng = np.random.default_rng(1)
    for n1, n2 in [(3, 3), (2, 5), (3, 8), (10, 4)]:
        a, b = rng.normal(0, 1, n1), rng.normal(1.5, 3, n2)
        assert welch(a, b) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)
    assert math.isnan(welch(np.array([1.0]), np.array([2.0, 3.0])))


def runs_frame(values: dict[str, list[float]], diverged: dict[str, int] | None = None) -> pd.DataFrame:
    rows = []
    for s, vs in values.items():
        for i, v in enumerate(vs):
            status = "diverged" if i < (diverged or {}).get(s, 0) else "finished"
            rows.append({"strategy": s, "seed": i, "status": status, "perplexity": v,
                         "tokens_per_sec": 1000.0, "clipped_fraction": 0.5})  # fmt: skip
    return pd.DataFrame(rows)


def test_verdict_separates_clear_differences_from_noise():
    clear = verdict(runs_frame({"full": [2.0, 2.1, 2.05], "regular:5": [3.0, 3.1, 2.95]}), "perplexity")
    assert any("full" in s and "2.050" in s for s in clear)
    assert any(s.startswith("regular (k=5)") and "larger than the seed-to-seed spread" in s for s in clear)
    noisy = verdict(runs_frame({"full": [2.0, 3.0, 2.5], "regular:5": [2.2, 3.1, 2.6]}), "perplexity")
    assert any(s.startswith("regular (k=5)") and "within the seed-to-seed spread" in s for s in noisy)
    assert any("Welch" in s and "3 seeds" in s for s in noisy), "the rule and the power are stated"


def test_verdict_reports_divergence_and_leaves_diverged_runs_out_of_the_means():
    runs = runs_frame(
        {"full": [2.0, 2.1, 2.05], "randomized:0.5": [math.inf, 9.0, 9.5]}, {"randomized:0.5": 1}
    )
    said = verdict(runs, "perplexity")
    assert "randomized (π=0.5) diverged in 1 of 3 seeds." in said
    table = summary(runs, "perplexity")
    row = table.set_index("strategy").loc["randomized:0.5"]
    assert row["diverged"] == 1 and row["mean"] == pytest.approx(9.25) and row["n"] == 3
    assert verdict(runs_frame({"a": [math.inf]}, {"a": 1}), "perplexity")[-1].startswith("Every run")


def test_same_seed_same_weights_and_data_across_strategies_and_not_across_seeds():
    comparison = Comparison(tiny_spec())
    firsts = {}
    for seed in (0, 1):
        for s in ("full", "regular:3", "randomized:0.8"):
            t = comparison.trainer(s, seed)
            params = [p.detach().clone() for p in t.model.parameters()]
            t.step()
            firsts[(s, seed)] = (params, t.last_window["X"].clone())
    for s in ("regular:3", "randomized:0.8"):
        for seed in (0, 1):
            p0, x0 = firsts[("full", seed)]
            p1, x1 = firsts[(s, seed)]
            assert all(torch.equal(a, b) for a, b in zip(p0, p1))
            assert torch.equal(x0, x1)
    (pa, xa), (pb, xb) = firsts[("full", 0)], firsts[("full", 1)]
    assert not torch.equal(pa[0], pb[0]) and not torch.equal(xa, xb)


def test_the_runner_steps_in_slices_and_ends_with_every_run():
    comparison = Comparison(tiny_spec())
    progress = [comparison.progress]
    while not comparison.done:
        comparison.run_for(0.001)
        progress.append(comparison.progress)
    assert comparison.done and comparison.progress == 1.0 and progress == sorted(progress)
    assert len(progress) > len(comparison.order), "more than one slice per run"
    runs = comparison.runs()
    assert len(runs) == 6 and set(runs["status"]) == {"finished"}
    curves = comparison.curves()
    assert set(curves.groupby(["strategy", "seed"]).size()) == {2}, "one point per epoch"
    assert {"recall_perplexity", "recall_accuracy"} <= set(curves.columns)
    assert comparison.run_for(1.0) == []


def test_a_second_thread_cannot_step_at_the_same_time():
    comparison = Comparison(tiny_spec(seeds=(0,)))
    with comparison.lock:
        assert comparison.run_for(1.0) == []  # skipped, not waited for
    assert comparison.current is None and comparison.progress == 0.0
    comparison.run_for(0.001)
    assert comparison.current is not None


def test_a_seconds_budget_stops_each_run_at_its_time(tmp_path):
    spec = tiny_spec(budget="seconds", seconds=0.05, strategies=("full",), seeds=(0,),
                     base=TINY.replace(epochs=500))  # fmt: skip
    comparison = Comparison(spec)
    comparison.run()
    t = comparison.finished[0].trainer
    assert t.wall_time >= 0.05 and t.epoch < 500
    data = results(comparison)
    write_results(data, tmp_path / "r.json")
    back = json.loads((tmp_path / "r.json").read_text())
    assert back["spec"]["budget"] == "seconds" and back["machine"]["torch"] == torch.__version__
    assert back["version"] and back["metric"] == "recall_perplexity"
    assert Spec.from_dict(back["spec"]) == spec
    assert (tmp_path / "r.csv").read_text().startswith("strategy,seed,")


@pytest.mark.parametrize(
    "bad", [{"strategies": ("regular",)}, {"strategies": ("randomized:2",)}, {"seeds": tuple(range(9))},
            {"budget": "steps"}, {"seconds": 1e6}],
)  # fmt: skip
def test_bad_specs_are_refused(bad):
    with pytest.raises((ValueError, ConfigError)):
        tiny_spec(**bad)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_results_load_and_are_small(name):
    from bptt.compare.results import RESULTS_DIR

    path = RESULTS_DIR / f"{name}.json"
    assert path.stat().st_size < 500_000
    data = load_shipped(name)
    # A shipped file may merge comparisons of the same settings (benchmarks/merge_comparisons.py), so
    # its spec can name more runs than one comparison may hold: each part is a valid spec.
    spec = data["spec"]
    for strategy in spec["strategies"]:
        Spec.from_dict({**spec, "strategies": [strategy]})
    assert len(data["runs"]) == len(spec["strategies"]) * len(spec["seeds"])
    assert set(data["curves"]["strategy"]) == set(spec["strategies"])
    assert {"platform", "cores", "torch", "torch_threads", "date"} <= set(data["machine"])


def test_interrupt_ends_a_slice_in_flight():
    """A click in the dashboard interrupts a slice another thread is training (after the current step)."""
    import threading
    import time

    spec = tiny_spec(budget="seconds", seconds=60.0, strategies=("full",), seeds=(0,),
                     base=TINY.replace(epochs=2_000))  # fmt: skip
    comparison = Comparison(spec)
    comparison.run_for(0.001)  # the run exists and has trained a step
    before = comparison.current.trainer.step_count
    worker = threading.Thread(target=comparison.run_for, args=(30.0,), daemon=True)
    worker.start()
    deadline = time.monotonic() + 30  # a loaded machine can take a while to start the thread's first step
    while comparison.current.trainer.step_count == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert comparison.current.trainer.step_count > before, "the worker never trained"
    comparison.interrupt()  # the slice is in flight now: it must end after its current step
    worker.join(timeout=15)
    assert not worker.is_alive(), "the slice went on after interrupt()"
    assert not comparison.done


def test_curves_with_the_run_in_progress():
    comparison = Comparison(
        tiny_spec(strategies=("full", "regular:3"), seeds=(0,), base=TINY.replace(epochs=4))
    )
    while comparison.current is None or not comparison.current.points:
        comparison.run_for(0.001)
    assert comparison.curves().empty
    live = comparison.curves(with_current=True)
    assert set(live["strategy"]) == {"full"} and len(live) == len(comparison.current.points)


def test_the_cli_names_a_local_copy_of_the_books_file(tmp_path, monkeypatch):
    """A text file with The Time Machine's SHA-1 is recorded as The Time Machine, any other by its name."""
    import hashlib

    from bptt import cli

    book, other = tmp_path / "timemachine.txt", tmp_path / "mine.txt"
    book.write_text("the time traveller " * 200)
    other.write_text("something else entirely " * 200)
    monkeypatch.setattr(cli, "TIME_MACHINE_SHA1", hashlib.sha1(book.read_bytes()).hexdigest())
    assert cli.corpus_field(str(book)) == "time_machine" and cli.corpus_field(str(other)) == "upload"
    assert cli.corpus_field("bundled") == "bundled"
    out = tmp_path / "r.json"
    args = ["compare", "--corpus", str(book), "--strategies", "full", "--seeds", "0", "--epochs", "1",
            "--num-hiddens", "8", "--max-tokens", "1000", "--num-steps", "12", "--batch-size", "4",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert cli.main(args) == 0
    data = json.loads(out.read_text())
    assert data["corpus"] == "The Time Machine" and data["spec"]["base"]["corpus"] == "time_machine"
    assert cli.load(RunConfig(), str(other)).name == "mine.txt"


def test_the_shipped_time_machine_file_names_its_corpus():
    data = load_shipped("time_machine")
    assert data["corpus"] == "The Time Machine" and data["spec"]["base"]["corpus"] == "time_machine"


def test_holm_rejects_as_its_step_down_definition():
    """Holm (1979): order p_(1) <= ... <= p_(m); reject H_(j) while p_(j) <= alpha / (m - j + 1)."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        m = int(rng.integers(1, 7))
        p = {i: float(v) for i, v in enumerate(rng.uniform(0, 0.1, m) ** 2)}
        adjusted = holm(p)
        for alpha in (0.01, 0.05):
            order = sorted(p, key=p.get)
            want = set()
            for j, key in enumerate(order):
                if p[key] > alpha / (m - j):
                    break
                want.add(key)
            assert {k for k, v in adjusted.items() if v < alpha} == want - {
                k for k in want if p[k] * (m - order.index(k)) == alpha
            }
    assert math.isnan(holm({"a": math.nan, "b": 0.01})["a"]) and holm({"a": math.nan, "b": 0.01})["b"] == 0.01


def test_picking_the_best_after_looking_keeps_the_family_wise_rate():
    """Four equal strategies, 3 seeds each: how often is some 'larger than the spread' said? With Holm over
    every pair, at most 5% (within 3 Monte Carlo s.e.); the raw tests against the picked best say it far
    more often."""
    rng = np.random.default_rng(7)
    trials, said, raw = 3000, 0, 0
    for _ in range(trials):
        ok = {s: rng.normal(0, 1, 3) for s in "abcd"}
        best = min(ok, key=lambda s: ok[s].mean())
        said += any(v < 0.05 for v in pairwise_vs_best(ok, best).values())
        raw += any(welch(ok[best], ok[s]) < 0.05 for s in ok if s != best)
    se = math.sqrt(0.05 * 0.95 / trials)
    assert said / trials <= 0.05 + 3 * se
    assert raw / trials > 0.08


TRAIN = RunConfig(corpus="bundled", tokenizer="chars", max_tokens=3_000, max_vocab=60, num_steps=20,
                  batch_size=6, num_hiddens=24, optimizer="adam", lr=0.02, clip=2.5, epochs=3, seed=42,
                  sampler="random", truncation="full")  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "strategies"),
    [
        ({}, ("full", "regular:10", "randomized:0.9")),  # the defaults: k = 10, π = 0.9
        ({"truncation": "regular", "k": 4}, ("full", "regular:4", "randomized:0.9")),  # Train's k
        ({"truncation": "randomized", "pi": 0.6, "k": 3}, ("full", "regular:10", "randomized:0.6")),  # its π
        ({"truncation": "randomized", "schedule": "artbp", "alpha": 2.0, "t0": 30.0},
         ("full", "regular:10", "artbp:2:30")),  # Train's schedule, whatever it is
        ({"truncation": "randomized", "schedule": "linear", "pi": 0.8, "pi_end": 0.4},
         ("full", "regular:10", "linear:0.8:0.4")),
        ({"num_steps": 8}, ("full", "regular:4", "randomized:0.9")),  # k = 10 would not cut in 8 steps
        ({"num_steps": 10, "truncation": "regular", "k": 12}, ("full", "regular:12", "randomized:0.9")),
    ],
)  # fmt: skip
def test_three_strategies_are_trains_settings_and_seed_for_each_strategy(changes, strategies):
    from bptt.compare.runner import three_strategies

    cfg = TRAIN.replace(**changes)
    spec = three_strategies(cfg)
    assert spec.strategies == strategies
    assert spec.seeds == (42,) and spec.task == "text" and spec.budget == "epochs"
    assert len(Comparison(spec, corpus=object()).order) == 3  # one run per strategy, no other seed
    # Every run: each of Train's settings but the truncation's, written out field by field.
    strategy_fields = {"truncation", "k", "schedule", "pi", "pi_end", "alpha", "t0"}
    expected = {"full": {"truncation": "full"}}
    expected[strategies[1]] = {"truncation": "regular", "k": int(strategies[1].split(":")[1])}
    expected[strategies[2]] = {"truncation": "randomized", **{
        "randomized": lambda a: {"schedule": "constant", "pi": float(a[0])},
        "artbp": lambda a: {"schedule": "artbp", "alpha": float(a[0]), "t0": float(a[1])},
        "linear": lambda a: {"schedule": "linear", "pi": float(a[0]), "pi_end": float(a[1])},
    }[strategies[2].split(":")[0]](strategies[2].split(":")[1:])}  # fmt: skip
    for s in strategies:
        run = spec.config(s, spec.seeds[0]).to_dict()
        for name, value in cfg.to_dict().items():
            if name not in strategy_fields:
                assert run[name] == value, (s, name)
        for name, value in expected[s].items():
            assert run[name] == value, (s, name)


def test_three_strategies_train_exactly_as_train_does():
    """The comparison's runs are Train's runs: each strategy's curve equals a Trainer built from Train's
    settings with that strategy, step for step (same seed: same weights, minibatches and draws)."""
    from bptt.compare.runner import three_strategies
    from bptt.corpora import load_corpus
    from bptt.training import Trainer

    cfg = TRAIN.replace(tokenizer="letters", num_hiddens=8, max_tokens=1_000, epochs=2, seed=5,
                        truncation="randomized", pi=0.7)  # fmt: skip
    corpus = load_corpus("bundled", tokenizer="letters", max_tokens=1_000)
    comparison = Comparison(three_strategies(cfg), corpus)
    comparison.run()
    curves = comparison.curves()
    runs = {"full": {"truncation": "full"}, "regular:10": {"truncation": "regular", "k": 10},
            "randomized:0.7": {}}  # fmt: skip
    for strategy, fields in runs.items():
        trainer = Trainer(cfg.replace(**fields), corpus)
        while not trainer.done:
            trainer.step()
        got = curves[curves["strategy"] == strategy]["perplexity"].to_numpy()
        np.testing.assert_array_equal(got, np.asarray(trainer.history.epochs["perplexity"]))
