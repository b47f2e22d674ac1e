"""The dashboard under streamlit.testing.v1.AppTest: pages render, the run controls drive training, the
URL carries the settings, bad input is refused politely.

The process's training workers train in the background of the test, as they do on a server; AppTest
never fires `run_every`, so each `.run()` stands for one timer run of the live panel (it reconciles and
renews the run's lease), and a test waits for the workers by rerunning (conftest.wait_until). Every run
gets an explicit timeout: the first one imports torch and builds a model. The corpus is the bundled one
(no network), cut short so that runs finish fast.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from conftest import control_key, press, wait_until
from streamlit.testing.v1 import AppTest

from bptt.config import QUICK_LOOK, RunConfig
from bptt.hosting.slots import shared_slots

APP = Path(__file__).resolve().parents[1] / "app.py"
TRAIN = "pages/train.py"
TIMEOUT = 60
TINY = {"corpus": "bundled", "max_tokens": "2000", "num_hiddens": "32", "epochs": "2"}
LONG = {"corpus": "bundled", "max_tokens": "20000", "num_hiddens": "32", "epochs": "500"}  # ~8,500 steps


@pytest.fixture(autouse=True)
def free_slots():
    """Every test starts with fresh process-wide slots: AppTest sessions of earlier tests stay 'running'."""
    yield shared_slots(capacity=64)


def open_page(page: str, params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)  # the home page; switch_page needs one run first
    at.query_params.clear()
    at.query_params.update(params or {})
    return at.switch_page(page).run(timeout=TIMEOUT)


def registry(at: AppTest):
    return at.session_state["registry"]


def active(at: AppTest):
    return registry(at).get(at.session_state["active"])


def steps(at: AppTest) -> int:
    return active(at).trainer.step_count


def tick(at: AppTest, n: int = 1, pause: float = 0.3) -> AppTest:
    """n timer runs of the panel, `pause` seconds apart (the workers train in between)."""
    for _ in range(n):
        time.sleep(pause)
        at.run(timeout=TIMEOUT)
        assert not at.exception, at.exception
    return at


def poll_until(condition, timeout: float = 10, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def labels(at: AppTest) -> list[str]:
    return at.segmented_control(key=control_key(at)).options


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    return at


# -- pages ---------------------------------------------------------------------------------------------


def test_home_page_renders_and_links_to_training():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run(timeout=TIMEOUT)
    assert not at.exception
    assert at.title[0].value == "BPTT Lab"
    assert "randomized" in at.markdown[0].value


@pytest.mark.parametrize(
    ("page", "title"), [(TRAIN, "Train an RNN with BPTT"), ("pages/theory.py", "The equations")]
)
def test_every_page_renders_without_exception(page, title):
    at = open_page(page, TINY)
    assert not at.exception, at.exception
    assert not at.error
    assert at.title[0].value == title


def test_theory_page_shows_the_estimator_and_its_errata():
    at = open_page("pages/theory.py")
    assert any(r"E[\xi_t] = 1" in el.value for el in at.latex)
    assert "Errata" in at.info[0].value
    at.radio(key="theory_kind").set_value("ARTBP").run(timeout=TIMEOUT)
    assert "E[\\xi_t \\mid" in at.info[0].value, "the unbiasedness condition, not independence"
    # schedule + influence balancing (sensitivity, theta, randomized over seeds)
    assert not at.exception and len(at.get("plotly_chart")) == 4


def test_theory_page_shows_truncation_getting_the_sign_wrong():
    at = open_page("pages/theory.py")
    assert at.metric[0].value == "+10.00"  # K = 10: the sliding-window sensitivity, against the true -6
    at.slider(key="theory_ib_k").set_value(50).run(timeout=TIMEOUT)
    assert not at.exception and at.metric[0].value == "-4.75"
    assert float(at.metric[1].value) > 0, "chunked truncation at K = 50 still has the wrong sign"
    theta = next(c for c in at.get("plotly_chart") if c.proto.id and "theory_ib_theta" in c.proto.id)
    names = [t["name"] for t in json.loads(theta.proto.spec)["data"]]
    assert names[:3] == ["full BPTT", "sliding window, K=50", "chunked, K=50"]
    assert any("0 of 3 seeds diverged" in c.value for c in at.caption)
    at.select_slider(key="theory_ib_pi").set_value(0.95).run(timeout=TIMEOUT)
    assert not at.exception and any("3 of 3 seeds diverged" in c.value for c in at.caption)


# -- the buttons ---------------------------------------------------------------------------------------


def test_start_trains_pause_holds_resume_continues():
    at = open_page(TRAIN, LONG)
    assert at.session_state["phase"] == "idle" and len(registry(at)) == 0
    assert labels(at) == ["Start", "Pause", "Stop"]
    press(at, "running")
    assert at.session_state["phase"] == "running" and labels(at)[0] == "Running"
    first = wait_until(at, lambda: steps(at), what="the first steps")
    wait_until(at, lambda: steps(at) > first, what="more steps")

    press(at, "paused")  # the click's own run hands the run back to the page: from here it holds
    assert at.session_state["phase"] == "paused"
    paused = steps(at)
    tick(at, 3)
    assert steps(at) == paused
    assert "paused" in at.get("progress")[0].proto.text
    assert labels(at)[0] == "Resume"

    press(at, "running")
    wait_until(at, lambda: steps(at) > paused, what="steps after Resume")
    assert at.session_state["phase"] == "running"
    press(at, "paused")


def test_a_session_waits_in_the_queue_while_the_slots_are_taken():
    slots = shared_slots(capacity=1)
    slots.quantum = slots.stale_after = (
        600.0  # no time slicing, and the other tab stays however slow this test
    )
    assert slots.request("another visitor").granted
    at = open_page(TRAIN, LONG)
    press(at, "running")
    for _ in range(3):
        assert slots.request("another visitor").granted  # the other tab keeps its slot
        tick(at)
    assert steps(at) == 0 and at.session_state["phase"] == "running"
    wait_until(at, lambda: any("Waiting for a free training slot" in i.value and "number 1 of 1" in i.value
                               for i in at.info), what="the queue notice")  # fmt: skip
    # Honest while it waits: the other holder keeps its 600 s slice, so the wait is 10 min; the status
    # does not say running and the page shows no speed.
    assert any("your turn comes in about 10 min" in i.value for i in at.info)
    assert "waiting for a training slot" in at.get("progress")[0].proto.text
    assert next(m for m in at.metric if m.label == "Tokens / s").value == "–"
    slots.release("another visitor")
    wait_until(at, lambda: steps(at) > 0, what="steps once the slot is free")
    wait_until(at, lambda: not any("Waiting" in i.value for i in at.info), what="the notice to go")
    # A second visitor wants to train and the slices are short: after its turn this session queues at
    # the back, and the notice says why its place grew, and when its run should finish.
    slots.quantum = 1.0

    def requeued() -> bool:
        slots.request("another visitor")
        return any("Your last turn ended" in i.value and "finishes in about" in i.value for i in at.info)

    wait_until(at, requeued, what="the notice after a turn")
    press(at, "paused")
    slots.release("another visitor")
    poll_until(lambda: slots.status().training == 0, what="a paused session gives its slot back")


def test_stop_keeps_the_run_and_reset_forgets_every_run():
    at = open_page(TRAIN, LONG)
    press(at, "running")
    wait_until(at, lambda: steps(at) > 0)
    press(at, "stopped")
    run = active(at)
    assert at.session_state["phase"] == "idle" and run.status == "stopped"
    held = run.trainer.step_count
    tick(at, 2)
    assert run.trainer.step_count == held
    assert control_key(at) == "ui_run_2" and labels(at)[0] == "Start"  # a fresh control for the next run
    assert at.segmented_control(key="ui_run_2").value is None

    press(at, "stopped")  # Stop where no run is (one that finished just before the click): nothing happens
    assert control_key(at) == "ui_run_3" and labels(at)[0] == "Start" and len(registry(at)) == 1
    assert at.segmented_control(key="ui_run_3").value is None and at.session_state["phase"] == "idle"

    press(at, "running")  # a second run
    assert len(registry(at)) == 2 and at.session_state["ui_overlay"] == [1, 2]
    click(at, "btn_reset")  # Reset asks first
    assert len(registry(at)) == 2 and at.session_state["phase"] == "running"
    assert any("Forget all 2 runs" in m.value for m in at.markdown)
    click(at, "btn_reset_cancel")
    assert len(registry(at)) == 2 and not [b for b in at.button if b.key == "btn_reset_confirm"]
    click(at, "btn_reset")
    click(at, "btn_reset_confirm")
    assert len(registry(at)) == 0 and at.session_state["phase"] == "idle"
    assert not [b for b in at.button if b.key == "btn_reset_confirm"], "the question goes with the runs"
    assert any("Press **Start**" in el.value for el in at.info)


def test_quick_look_preset_runs_to_finished():
    at = open_page(TRAIN, {"corpus": "bundled"})
    at.selectbox(key="ui_preset").set_value("Quick look").run(timeout=TIMEOUT)
    assert not at.exception
    quick = RunConfig(**{**QUICK_LOOK.to_dict(), "corpus": "bundled"})
    assert at.session_state["cfg_epochs"] == quick.epochs and at.session_state["cfg_corpus"] == "bundled"
    press(at, "running")
    assert active(at).cfg == quick
    wait_until(at, lambda: active(at).status == "finished", timeout=120, what="the run to finish")
    tick(at)
    assert at.session_state["phase"] == "idle" and labels(at)[0] == "Start"
    assert at.success and "Finished" in at.success[0].value
    assert at.get("progress")[0].proto.value == 100


def test_a_finished_run_whose_perplexity_rose_ends_with_a_warning():
    at = open_page(TRAIN, TINY)
    press(at, "running")
    wait_until(at, lambda: active(at).status == "finished", timeout=120, what="the run to finish")
    tick(at)
    assert at.success and not at.warning  # two epochs of a tiny run: the perplexity fell
    trainer = active(at).trainer
    with trainer.lock:  # the last epoch 40 % above the first: the run got worse
        trainer.history.epochs["perplexity"][:] = [5.0, 7.0]
    tick(at)
    assert not at.success, "a worsening run must not end in green"
    assert len(at.warning) == 1 and "Finished 2 epochs" in at.warning[0].value
    assert "7.00" in at.warning[0].value and "5.00 in epoch 1" in at.warning[0].value


def test_a_setting_changed_during_a_run_applies_to_the_next_run():
    at = open_page(TRAIN, LONG)
    press(at, "running")
    at.slider(key="cfg_num_hiddens").set_value(64).run(timeout=TIMEOUT)
    assert not at.exception
    note = "They apply to a new run: press Stop, then Start."
    assert any(note in el.value and "num_hiddens: 32 → 64" in el.value for el in at.info)
    assert active(at).cfg.num_hiddens == 32
    before = steps(at)
    wait_until(at, lambda: steps(at) > before, what="the first run to keep training")
    press(at, "paused")
    # Paused, the control offers Resume (this run, its own settings), not Start: the note says so.
    assert labels(at)[0] == "Resume"
    assert any(note in el.value for el in at.info)


def test_runs_are_overlaid_on_the_curves():
    at = open_page(TRAIN, TINY)
    press(at, "running")
    wait_until(at, lambda: steps(at) > 0)
    press(at, "stopped")
    at.radio(key="cfg_truncation").set_value("regular").run(timeout=TIMEOUT)
    press(at, "running")
    wait_until(at, lambda: steps(at) > 0)
    tick(at)
    names = [r.name for r in registry(at).list()]
    assert names == [
        "#1 full within each window",
        "#2 regular (k=10)",
    ]  # the defaults: the book's experiment, then k = 10
    loss = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "loss" in c.proto.spec)
    assert [trace["name"] for trace in loss["data"]] == names
    assert [b.proto.label for b in at.get("download_button")] == ["Metrics (CSV)", "Settings (JSON)"]


# -- the URL -------------------------------------------------------------------------------------------


def test_settings_round_trip_through_the_query_string():
    cfg = RunConfig(corpus="bundled", num_steps=50, batch_size=16, truncation="randomized", schedule="artbp",
                    alpha=2.5, t0=20.0, lr=0.5, optimizer="adam", seed=7)  # fmt: skip
    at = open_page(TRAIN, cfg.to_query())
    assert not at.exception
    assert not any("adjusted" in el.value for el in at.info)
    assert at.slider(key="cfg_num_steps").value == 50
    assert at.slider(key="cfg_batch_size").value == 16
    assert at.radio(key="cfg_truncation").value == "randomized"
    assert at.selectbox(key="cfg_schedule").value == "artbp"
    assert at.slider(key="cfg_alpha").value == 2.5
    assert at.number_input(key="cfg_t0").value == 20.0
    assert at.number_input(key="cfg_lr").value == 0.5
    assert at.radio(key="cfg_optimizer").value == "adam"
    assert at.query_params == {**cfg.to_query(), "lang": "en"}  # written back, lang kept

    at.slider(key="cfg_num_steps").set_value(60).run(timeout=TIMEOUT)
    assert at.query_params["num_steps"] == "60"


@pytest.mark.parametrize(
    "params, preset",
    [({}, "The book's experiment"), (QUICK_LOOK.to_query(), "Quick look"),
     ({**QUICK_LOOK.to_query(), "corpus": "bundled", "device": "cpu"}, "Quick look"),  # text, device aside
     ({**QUICK_LOOK.to_query(), "lr": "0.02"}, "custom"), ({"num_hiddens": "64"}, "custom")],
)  # fmt: skip
def test_the_preset_box_names_the_preset_the_links_settings_match(params, preset):
    at = open_page(TRAIN, params)
    assert at.selectbox(key="ui_preset").value == preset


def test_the_preset_box_follows_a_hand_changed_setting_and_custom_changes_nothing():
    at = open_page(TRAIN, {"corpus": "bundled"})
    at.slider(key="cfg_num_hiddens").set_value(64).run(timeout=TIMEOUT)
    assert at.selectbox(key="ui_preset").value == "custom"
    at.selectbox(key="ui_preset").set_value("Quick look").run(timeout=TIMEOUT)
    assert at.session_state["cfg_num_hiddens"] == QUICK_LOOK.num_hiddens
    assert at.selectbox(key="ui_preset").value == "Quick look"
    at.selectbox(key="ui_preset").set_value("custom").run(timeout=TIMEOUT)
    assert not at.exception and at.session_state["cfg_num_hiddens"] == QUICK_LOOK.num_hiddens
    assert at.selectbox(key="ui_preset").value == "Quick look"  # the settings still match it


def test_absurd_query_values_are_clamped_with_a_note():
    params = {**TINY, "num_steps": "-5", "lr": "nan", "pi": "0", "k": "0", "batch_size": "abc",
              "truncation": "randomized", "alpha": "0.5", "epochs": "1e9"}  # fmt: skip
    at = open_page(TRAIN, params)
    assert not at.exception, at.exception
    assert "adjusted" in at.info[0].value
    notes = at.text[0].value
    for name in ("num_steps", "lr", "pi", "k", "batch_size", "alpha", "epochs"):
        assert name in notes
    assert at.slider(key="cfg_num_steps").value == 2
    assert at.slider(key="cfg_pi").value == pytest.approx(0.01)
    assert at.number_input(key="cfg_lr").value == RunConfig().lr
    assert at.slider(key="cfg_batch_size").value == RunConfig().batch_size
    assert at.query_params["num_steps"] == "2"
    press(at, "running")  # the clamped settings train
    wait_until(at, lambda: steps(at) > 0)


def test_a_setting_pushing_a_cross_field_bound_lowers_the_other():
    at = open_page(TRAIN, {**TINY, "batch_size": "128", "num_steps": "30"})
    at.slider(key="cfg_num_steps").set_value(200).run(timeout=TIMEOUT)
    assert not at.exception
    assert at.slider(key="cfg_batch_size").value == 4096 // 200
    assert at.slider(key="cfg_batch_size").max == 4096 // 200
    assert any("batch_size lowered" in t.value for t in at.toast)


# -- the corpus ----------------------------------------------------------------------------------------


def corpus_name(at: AppTest) -> str:
    return at.session_state["corpus"][1].name


def test_an_invalid_upload_shows_an_error_and_keeps_the_previous_corpus():
    at = open_page(TRAIN, TINY)
    assert corpus_name(at) == "Shakespeare (bundled)"
    at.selectbox(key="cfg_corpus").set_value("upload").run(timeout=TIMEOUT)
    assert not at.exception and not at.error
    at.file_uploader[0].set_value(("bad.txt", b"\xff\xfe\x00\x00binary", "text/plain")).run(timeout=TIMEOUT)
    assert not at.exception
    assert at.error and "UTF-16" in at.error[0].value
    assert corpus_name(at) == "Shakespeare (bundled)"
    assert any("Still using: Shakespeare (bundled)" in t.value for t in at.text)

    good = ("the time traveller for so it will be convenient to speak of him " * 200).encode()
    at.file_uploader[0].set_value(("mine.txt", good, "text/plain")).run(timeout=TIMEOUT)
    assert not at.error and corpus_name(at) == "upload: mine.txt"
    at.file_uploader[0].set_value(("empty.txt", b"", "text/plain")).run(timeout=TIMEOUT)
    assert at.error and corpus_name(at) == "upload: mine.txt"
    press(at, "running")  # trains on the text kept
    assert active(at).trainer.corpus.name == "upload: mine.txt"
    wait_until(at, lambda: steps(at) > 0)


@pytest.mark.parametrize(
    ("name", "text", "shown"),
    [
        ("zh.txt", "时间旅行者（为了方便，我们这样称呼他）正在给我们讲述一个深奥的问题。" * 60, "时间旅行者"),
        ("emoji.txt", "the time traveller 🚀 smiled 😀 and said ✨ " * 80, "🚀"),
        (
            "html.txt",
            "<script>alert(1)</script> **bold** [link](http://x) <b>b</b> # head\n" * 60,
            "<script>",
        ),
    ],
)
def test_any_unicode_text_trains_and_is_shown_as_plain_text(name, text, shown):
    at = open_page(TRAIN, {**TINY, "tokenizer": "chars"})
    at.selectbox(key="cfg_corpus").set_value("upload").run(timeout=TIMEOUT)
    at.file_uploader[0].set_value((name, text.encode("utf-8"), "text/plain")).run(timeout=TIMEOUT)
    assert not at.exception and not at.error
    assert corpus_name(at) == f"upload: {name}"
    excerpt = [c.value for c in at.code if shown in c.value]
    assert excerpt, "the excerpt shows the text verbatim, in a code block (never rendered as HTML/Markdown)"
    for el in [*at.markdown, *at.info, *at.caption, *at.error, *at.warning, *at.success]:
        assert shown not in el.value, f"user text reached a Markdown element: {el.value[:80]}"
    press(at, "running")
    wait_until(at, lambda: steps(at) > 0)


def test_chinese_text_with_the_letters_tokenizer_says_to_use_chars():
    at = open_page(TRAIN, TINY)
    at.selectbox(key="cfg_corpus").set_value("upload").run(timeout=TIMEOUT)
    data = ("时间旅行者正在给我们讲述一个深奥的问题。" * 60).encode()
    at.file_uploader[0].set_value(("zh.txt", data, "text/plain")).run(timeout=TIMEOUT)
    assert not at.exception
    assert at.error and "chars" in at.error[0].value


def test_a_text_too_short_for_one_minibatch_is_refused_at_start():
    at = open_page(TRAIN, {**TINY, "corpus": "upload", "batch_size": "128", "num_steps": "30"})
    short = b"a short text, far too short for one minibatch of the book's size. " * 10
    at.file_uploader[0].set_value(("short.txt", short, "text/plain")).run(timeout=TIMEOUT)
    assert corpus_name(at) == "upload: short.txt"
    press(at, "running")
    assert len(registry(at)) == 0 and at.session_state["phase"] == "idle"
    assert any("needs at least" in e.value for e in at.error)
    assert control_key(at) == "ui_run_2" and labels(at)[0] == "Start", "a fresh control after a failed Start"


# -- failures never show a traceback -------------------------------------------------------------------


def test_a_diverging_run_is_reported_and_the_ticks_stop():
    at = open_page(TRAIN, {**TINY, "max_tokens": "5000", "epochs": "50", "lr": "100", "clip": "0"})
    press(at, "running")
    wait_until(at, lambda: active(at).trainer.done, what="the run to diverge")
    tick(at)
    assert active(at).status == "diverged" and at.session_state["phase"] == "idle"
    assert any("Training stopped" in e.value for e in at.error)


def test_an_error_while_training_stops_the_run_and_says_so(monkeypatch):
    from bptt.training import Trainer

    at = open_page(TRAIN, LONG)

    def broken(self, *args, **kwargs):
        raise RuntimeError("simulated failure inside torch")

    monkeypatch.setattr(Trainer, "run_for", broken)
    press(at, "running")

    # The message is shown once: by the run of the press itself when the worker failed at once, else by
    # a later one.
    def errors():
        return [e.value for e in at.error if "stopped" in e.value and "server log" in e.value]

    said = errors() or wait_until(at, errors, what="the failed run to stop, with a message")
    assert not any("simulated" in e for e in said)  # no internals for the visitor
    assert at.session_state["phase"] == "idle" and active(at).status == "stopped" and labels(at)[0] == "Start"


def test_an_error_while_drawing_shows_a_short_message(monkeypatch):
    from bptt.charts import train as charts

    at = open_page(TRAIN, TINY)
    press(at, "running")
    monkeypatch.setattr(charts, "metric_chart", lambda *a, **k: 1 / 0)
    tick(at, 2)
    assert any("could not be drawn" in e.value for e in at.error)


# -- the live panel keeps one shape (a delta addressed by an index the browser does not have blanks the
# page: "Bad delta path index") ------------------------------------------------------------------------


def _walk(node, path=()):
    yield path, node
    for i, child in sorted(getattr(node, "children", {}).items()):
        yield from _walk(child, (*path, i))


def panel_shape(at: AppTest) -> tuple[int, tuple]:
    """The live panel's index in the main area and the child-index paths of everything in it."""
    for index, child in sorted(at.main.children.items()):
        if any(getattr(n, "type", None) == "metric" for _p, n in _walk(child)):
            return index, tuple(p for p, _n in _walk(child))
    raise AssertionError("no live panel on the page")


def test_the_live_panel_has_one_shape_in_every_state():
    at = open_page(TRAIN, {**LONG, "k": "abc"})  # a link note is shown above the panel before the first run
    assert any("adjusted" in el.value for el in at.info)
    shapes = {"no run yet": panel_shape(at)}
    press(at, "running")
    shapes["training"] = panel_shape(at)
    for view in ("gradients", "dh", "speed", "runs", "curves"):
        at.segmented_control(key="ui_view").set_value(view).run(timeout=TIMEOUT)
        shapes[f"view {view}"] = panel_shape(at)
    at.slider(key="cfg_num_hiddens").set_value(64).run(timeout=TIMEOUT)  # "Changed since ..." above it
    assert any("They apply to a new run" in el.value for el in at.info)
    shapes["a change shown above"] = panel_shape(at)
    press(at, "paused")
    shapes["paused"] = panel_shape(at)
    press(at, "stopped")
    shapes["stopped"] = panel_shape(at)
    first = shapes["no run yet"]
    assert all(s == first for s in shapes.values()), {k: (s[0], len(s[1])) for k, s in shapes.items()}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_says_it_trains_on_the_cpu():
    at = open_page(TRAIN, {**TINY, "device": "cuda"})
    assert any("trains on the CPU" in w.value or "train on the CPU" in w.value for w in at.sidebar.warning)
    at = open_page(TRAIN, {**TINY, "device": "cpu"})
    assert not at.sidebar.warning


# -- the truncation explained --------------------------------------------------------------------------


@pytest.mark.parametrize("pi, warned", [(0.9, False), (0.5, True)])
def test_the_path_weight_is_defined_and_a_heavy_one_is_a_warning(pi, warned):
    """Under the π_t preview: S(k) defined; a warning once max 1/S(k) = π^-(num_steps - 1) reaches 100."""
    at = open_page(TRAIN, {**TINY, "truncation": "randomized", "pi": str(pi), "num_steps": "35"})
    assert any("S(k) = π_1 π_2 ⋯ π_k is the probability" in c.value for c in at.caption)
    weight = pi**-34  # the closed form of constant π: S(k) = π^k, largest at the window's last lag
    assert (weight >= 100) == warned
    heavy = [w.value for w in at.warning if "path weight reaches" in w.value]
    assert len(heavy) == int(warned)
    if warned:
        assert f"1/S = {weight:,.3g} at 34 steps" in heavy[0] and f"{weight - 1:,.3g} times" in heavy[0]


def test_the_linear_schedule_defines_s_over_the_position_in_the_window():
    at = open_page(TRAIN, {**TINY, "truncation": "randomized", "schedule": "linear", "pi": "0.9",
                           "pi_end": "0.5"})  # fmt: skip
    assert any("S(t) = π_1 π_2 ⋯ π_t" in c.value for c in at.caption)
    preview = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert preview["layout"]["xaxis"]["title"]["text"] == "position t in the window (a cut at t = 0)"
