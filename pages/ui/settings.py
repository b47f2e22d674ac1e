"""The settings widgets: every label, help, bound and choice comes from RunConfig's field metadata (as
bptt.config.FIELDS reads it), every value lives in session_state as `cfg_<field>`, the URL holds them
all, so a link reproduces an experiment."""

from __future__ import annotations

import streamlit as st

from bptt.config import FIELDS, PRESETS, RunConfig, batch_size_max, epochs_max, from_mapping
from bptt.device import describe_device, falls_back
from bptt.i18n import _

from .lang import query_with_language
from .session import guarded

KEEP_ON_PRESET = ("corpus", "tokenizer", "max_vocab", "device")  # a preset is the experiment, not the data


def key(name: str) -> str:
    return f"cfg_{name}"


def init_from_url(defaults: dict) -> None:
    """On a session's first visit: the settings come from the link, the view options from `defaults`."""
    ss = st.session_state
    if "settings_ready" in ss:
        return
    cfg, ss["url_notes"] = from_mapping(st.query_params.to_dict())
    for name, value in cfg.to_dict().items():
        ss[key(name)] = value
    for k, value in defaults.items():
        ss.setdefault(k, value)
    ss["settings_ready"] = True


def current_config_quiet() -> RunConfig:
    """The settings the widgets hold now, as a valid RunConfig (values brought within bounds)."""
    ss = st.session_state
    return from_mapping({name: ss.get(key(name)) for name in FIELDS})[0]


def current_config() -> RunConfig:
    """The widgets' settings as a valid RunConfig, written back before the widgets are drawn (so they show
    the fitted value); a toast says what was adjusted."""
    ss = st.session_state
    cfg, notes = from_mapping({name: ss.get(key(name)) for name in FIELDS})
    for name, value in cfg.to_dict().items():
        if ss.get(key(name)) != value:
            ss[key(name)] = value
    for note in notes:
        st.toast(note)
    return cfg


def url_notes(show: bool) -> None:
    """What a shared link asked for that was adjusted, until the first run."""
    notes = st.session_state.get("url_notes")
    if show and notes:
        st.info(_("Some settings in the link were adjusted to what this app allows:"))
        st.text("\n".join(notes))


def write_url(cfg: RunConfig) -> None:
    """The address bar always holds the settings (and the language): a link reproduces them."""
    query = query_with_language(cfg.to_query())
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)


def apply_preset() -> None:
    ss = st.session_state
    with guarded(_("Loading the preset")):
        preset = PRESETS[ss["ui_preset"]].to_dict()
        kept = {k: ss[key(k)] for k in KEEP_ON_PRESET if key(k) in ss}
        for name, value in from_mapping({**preset, **kept})[0].to_dict().items():
            ss[key(name)] = value


def widget_table() -> dict[str, dict]:
    """Per setting, what its widget shows, in the current language: label, help, and the bounds of a
    number or the shown name of each choice. Every widget below is drawn from this table."""
    table = {}
    for f in FIELDS.values():
        row = {"label": f.label_text(), "help": f.help_text()}
        if f.kind is str:
            row["choices"] = {c: f.choice_text(c) for c in f.choices}
        else:
            row["bounds"] = f.bounds
        table[f.name] = row
    return table


def number(name: str, *, slider: bool = False, hi=None, **kw):
    w = widget_table()[name]
    lo, top = w["bounds"]
    widget = st.slider if slider else st.number_input
    top = top if hi is None else hi
    return widget(w["label"], min_value=lo, max_value=top, help=w["help"], key=key(name), **kw)


def choice(name: str, *, radio: bool = False, **kw):
    w = widget_table()[name]
    widget = st.radio if radio else st.selectbox
    # every choice in the current language, worked out now: a format_func reads no state (AppTest calls
    # it outside the script run, where the language is not set)
    shown = w["choices"]
    return widget(w["label"], list(shown), format_func=lambda c: shown.get(c, str(c)), help=w["help"],
                  key=key(name), **kw)  # fmt: skip


def preset_select() -> None:
    shown = {p: _(p) for p in PRESETS}  # worked out now: a format_func reads no state (not the language)
    st.selectbox(
        _("Preset"),
        list(PRESETS),
        format_func=shown.get,
        key="ui_preset",
        on_change=apply_preset,
        help=_("Sets the model and training settings; the text and the device stay."),
    )


def text_settings(cfg: RunConfig) -> None:
    choice("tokenizer", radio=True, horizontal=True)
    number("max_vocab", step=10, disabled=cfg.tokenizer != "chars")
    number("max_tokens", step=1_000)


def model_and_training(cfg: RunConfig) -> None:
    st.subheader(_("Model"))
    number("num_steps", slider=True)
    number("batch_size", slider=True, hi=batch_size_max(cfg.num_steps))
    number("num_hiddens", slider=True, step=4)
    st.subheader(_("Training"))
    choice("sampler", radio=True, horizontal=True)
    choice("optimizer", radio=True, horizontal=True)
    number("lr", step=0.1, format="%g")
    number("clip", step=0.5, format="%g")
    number("epochs", step=10, hi=epochs_max(cfg.max_tokens))
    number("seed", step=1)
    choice("device")
    st.caption(_("Trains on: {device}").format(device=describe_device(cfg.device)))
    if falls_back(cfg.device):
        st.warning(_("No CUDA GPU on this server: runs train on the CPU."), icon=":material/memory:")


def truncation_settings(cfg: RunConfig) -> None:
    st.markdown(_("**Truncation** (d2l §8.7.1)"))
    choice("truncation", radio=True, horizontal=True)
    if cfg.truncation == "regular":
        number("k", slider=True)
    elif cfg.truncation == "randomized":
        choice("schedule")
        if cfg.schedule == "constant":
            number("pi", slider=True, step=0.01)
        elif cfg.schedule == "artbp":
            number("alpha", slider=True, step=0.01)
            number("t0", step=1.0, format="%g")
        else:
            number("pi", slider=True, step=0.01)
            number("pi_end", slider=True, step=0.01)


def truncation_explained(cfg: RunConfig) -> None:
    """What the chosen truncation does to this window: the π_t schedule (a chart) or a sentence."""
    if cfg.truncation == "randomized":
        from bptt.charts import train as charts
        from bptt.truncation import Strategy

        st.plotly_chart(
            charts.schedule_preview(Strategy.of_config(cfg).gates(cfg.num_steps).schedule, cfg.num_steps),
            key="chart_schedule",
        )
    elif cfg.truncation == "regular":
        st.markdown(
            _(
                "The gradient stops every **k = {k}** steps, counted from the window's start; the window "
                "itself (num_steps = {num_steps}) is cut from the one before it, so k ≥ num_steps is the "
                "book's experiment."
            ).format(k=cfg.k, num_steps=cfg.num_steps)
        )
    else:
        st.markdown(
            _(
                "The gradient flows back through the whole window (num_steps = {num_steps}); only the "
                "window's start is cut, by the detach between minibatches. This is the book's experiment: "
                "its regular truncation at τ = num_steps."
            ).format(num_steps=cfg.num_steps)
        )
