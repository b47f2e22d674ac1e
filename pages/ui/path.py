"""The guided path's frame: the steps in the book's order, the step switch, and the buttons that open
Train, the Gradient lab or Compare with settings that show a step. The steps themselves are in
pages/ui/path_steps.py; their numbers come from bptt.path (recursion, powers) and
bptt.segmentation."""

from __future__ import annotations

import streamlit as st

from bptt.config import BOOK_EXPERIMENT, from_mapping
from bptt.i18n import N_, _

from .lang import query_with_language
from .settings import KEEP_ON_PRESET, key

# (step id, its label: the book's section number and title), in the book's order (d2l §8.7)
STEPS: dict[str, str] = {
    "recursion": N_("8.7.1 The recursion"),
    "full": N_("8.7.1.1 Full computation"),
    "regular": N_("8.7.1.2 Regular truncation"),
    "randomized": N_("8.7.1.3 Randomized truncation"),
    "comparison": N_("8.7.1.4 Comparing the strategies"),
    "powers": N_("8.7.2 Powers of W_hh"),
    "exercise1": N_("Exercise 1"),
    "exercise2": N_("Exercise 2"),
}
STEP_KEY = "ui_path_step"  # "ui_": app.py keeps it across pages

# The path's own sliders (kept across pages by app.py, like every "ui_" key), with their defaults
DEFAULTS = {
    "ui_path_w": 1.0,  # the scalar RNN's w_h (steps 8.7.1-8.7.1.3)
    "ui_path_tanh_scalar": True,  # f = tanh (else the identity of §8.7.2)
    "ui_path_tau": 10,  # regular truncation's τ
    "ui_path_pi": 0.9,  # randomized truncation's π
    "ui_path_draw": 0,  # which draw of the randomized row in Fig. 8.7.1
    "ui_path_lambda1": 1.1,  # W_hh's largest eigenvalue (8.7.2, exercises)
    "ui_path_lambda2": 0.9,  # its second
    "ui_path_tanh": True,  # the RNN with tanh (else linear)
}


def init() -> None:
    """Defaults once; a link's ?step=<id> opens that step (a bad one is ignored)."""
    ss = st.session_state
    for name, value in DEFAULTS.items():
        ss.setdefault(name, value)
    asked = st.query_params.get("step")
    if asked in STEPS and ss.get("path_step_applied") != asked:
        ss[STEP_KEY] = asked
    ss.setdefault(STEP_KEY, "recursion")
    ss["path_step_applied"] = ss[STEP_KEY]


def step_select() -> str:
    """The step switch; the address keeps the step (and the language)."""
    shown = {s: _(label) for s, label in STEPS.items()}  # worked out now: format_func reads no language
    step = st.radio(
        _("Step"),
        list(STEPS),
        format_func=shown.get,
        key=STEP_KEY,
        horizontal=True,
        label_visibility="collapsed",
    )
    query = query_with_language({"step": step})
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    st.session_state["path_step_applied"] = step
    return step


def _move(offset: int) -> None:
    ids = list(STEPS)
    st.session_state[STEP_KEY] = ids[(ids.index(st.session_state[STEP_KEY]) + offset) % len(ids)]


def prev_next(step: str) -> None:
    """Previous and next step, at the bottom."""
    ids = list(STEPS)
    i = ids.index(step)
    with st.container(horizontal=True):
        st.button(
            _("Previous step"),
            key="btn_path_prev",
            icon=":material/arrow_back:",
            on_click=_move,
            args=(-1,),
            disabled=i == 0,
        )
        st.button(
            _("Next step"),
            key="btn_path_next",
            icon=":material/arrow_forward:",
            on_click=_move,
            args=(1,),
            disabled=i == len(ids) - 1,
            type="primary",
        )


def look_for(text: str) -> None:
    """The one sentence on what to look for in the step's figure."""
    st.info(text, icon=":material/visibility:")


def _open_train(changes: dict) -> None:
    """Callback: the book's experiment changed by `changes` (the text and device stay the session's)
    goes into the session's settings, and the page then opens Train with it in its address."""
    ss = st.session_state
    kept = {k: ss[key(k)] for k in KEEP_ON_PRESET if key(k) in ss}
    cfg = from_mapping({**BOOK_EXPERIMENT.to_dict(), **changes, **kept})[0]
    for name, value in cfg.to_dict().items():
        ss[key(name)] = value
    ss["path_goto"] = ("pages/train.py", cfg.to_query())


def _open_lab() -> None:
    st.session_state["lab_weights"] = "init"  # the initialisation of the book's model
    st.session_state["path_goto"] = ("pages/gradient_lab.py", {})


def _open_compare(task: str) -> None:
    st.session_state["ui_cmp_task"] = task
    st.session_state["path_goto"] = ("pages/compare.py", {})


def train_button(label: str, step: str, **changes) -> None:
    """A button that opens Train with the book's experiment changed by `changes`."""
    st.button(label, key=f"btn_path_go_{step}", icon=":material/model_training:", on_click=_open_train,
              args=(changes,))  # fmt: skip


def lab_button(label: str, step: str) -> None:
    """A button that opens the Gradient lab at the initialisation of the book's model."""
    st.button(label, key=f"btn_path_go_{step}", icon=":material/science:", on_click=_open_lab)


def compare_button(label: str, step: str, task: str = "time_machine") -> None:
    """A button that opens Compare on a shipped comparison (`task`: time_machine or synthetic)."""
    st.button(label, key=f"btn_path_go_{step}", icon=":material/compare_arrows:", on_click=_open_compare,
              args=(task,))  # fmt: skip


def follow_button() -> None:
    """After the step is drawn: go where a button of this run asked to."""
    if (goto := st.session_state.pop("path_goto", None)) is not None:
        st.switch_page(goto[0], query_params=query_with_language(goto[1]))


def draw(step: str) -> None:
    """Draw one step of the path."""
    from .path_powers import exercise1_step, exercise2_step, powers_step
    from .path_steps import comparison_step, full_step, randomized_step, recursion_step, regular_step

    {
        "recursion": recursion_step,
        "full": full_step,
        "regular": regular_step,
        "randomized": randomized_step,
        "comparison": comparison_step,
        "powers": powers_step,
        "exercise1": exercise1_step,
        "exercise2": exercise2_step,
    }[step]()
