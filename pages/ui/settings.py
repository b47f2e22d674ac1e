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


CUSTOM = "custom"  # the preset box's value when the settings match no preset


def matching_preset(cfg: RunConfig) -> str:
    """The preset whose settings `cfg` holds (the text and the device aside, KEEP_ON_PRESET), else CUSTOM:
    what the preset box shows, so a link or a hand-changed setting never sits under a preset's name."""
    kept = {k: getattr(cfg, k) for k in KEEP_ON_PRESET}
    for name, preset in PRESETS.items():
        if from_mapping({**preset.to_dict(), **kept})[0] == cfg:
            return name
    return CUSTOM


def apply_preset() -> None:
    ss = st.session_state
    with guarded(_("Loading the preset")):
        if ss["ui_preset"] not in PRESETS:
            return  # "custom" is a description, not settings
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


def preset_select(cfg: RunConfig) -> None:
    """The preset box, showing the preset the settings match (or "custom"); choosing one loads it."""
    st.session_state["ui_preset"] = matching_preset(cfg)  # before the widget: it shows the settings
    # worked out now: a format_func reads no state (not the language)
    shown = {**{p: _(p) for p in PRESETS}, CUSTOM: _("custom (no preset matches the settings)")}
    st.selectbox(
        _("Preset"),
        [*PRESETS, CUSTOM],
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
    # full computation over the whole sequence follows one stream: sequential partitioning only
    choice("sampler", radio=True, horizontal=True, disabled=cfg.truncation == "stream")
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

        schedule = Strategy.of_config(cfg).gates(cfg.num_steps).schedule
        st.plotly_chart(charts.schedule_preview(schedule, cfg.num_steps), key="chart_schedule")
        weight_explained(schedule, cfg.num_steps)
    elif cfg.truncation == "regular":
        st.markdown(
            _(
                "The gradient stops every **k = {k}** steps, counted from the window's start; the window "
                "itself (num_steps = {num_steps}) is cut from the one before it, so k ≥ num_steps is the "
                "book's experiment."
            ).format(k=cfg.k, num_steps=cfg.num_steps)
        )
    elif cfg.truncation == "stream":
        from bptt.truncation.stream import MAX_STREAM_BYTES, MAX_STREAM_STEPS

        st.markdown(
            _(
                "The book's **full computation** (d2l §8.7.1.1): the state is never detached, so each "
                "step's loss is backpropagated through the current window and every window before it since "
                "the stream began (sequential partitioning: each row of a minibatch continues the same row "
                "of the last one). Each step costs more time and memory than the one before, and a gradient "
                "through so many steps can explode: the stream restarts at each epoch's start, or before it "
                "would hold {steps:,} time steps or {mib} MiB. The **Speed** charts show both growing."
            ).format(steps=MAX_STREAM_STEPS, mib=MAX_STREAM_BYTES // 2**20)
        )
    else:
        st.markdown(
            _(
                "The gradient flows back through the whole window (num_steps = {num_steps}); only the "
                "window's start is cut, by the detach between minibatches. This is the book's experiment: "
                "its regular truncation at τ = num_steps, not the full computation over the whole sequence "
                "(§8.7.1.1), which never detaches."
            ).format(num_steps=cfg.num_steps)
        )


# A path weight 1/S(k) from this value on makes the weighted term's variance at least 99 times its square.
WEIGHT_WARNING = 100.0


def heaviest_weight(schedule, num_steps: int) -> tuple[int, float]:
    """The largest path weight 1/S(k) over the window and the lag (or position) k where it is reached."""
    from bptt.truncation import survival

    weight = survival(schedule, max(num_steps - 1, 1))["weight"]
    k = int(weight.argmax())
    return k + 1, float(weight[k])


def weight_explained(schedule, num_steps: int) -> None:
    """S(k) defined under the preview that draws 1/S(k), and a warning when the weight explodes."""
    if getattr(schedule, "depends_on_position", False):
        st.caption(
            _(
                "S(t) = π_1 π_2 ⋯ π_t is the probability that no cut falls between the window's start and "
                "step t. Randomized truncation (d2l §8.7.1.3, eq. 8.7.8) multiplies a dependency that "
                "survives by 1/S(t) (each kept step's ξ_t = 1/π_t), so that on average it counts in full: "
                "the gradient stays unbiased. This π_t depends on the position t in the window, so the "
                "preview follows the segment that starts with the window."
            )
        )
    else:
        st.caption(
            _(
                "S(k) = π_1 π_2 ⋯ π_k is the probability that a segment started by a cut survives the next k "
                "steps uncut. Randomized truncation (d2l §8.7.1.3, eq. 8.7.8) multiplies a dependency across "
                "lag k that survives by 1/S(k) (each kept step's ξ_t = 1/π_t), so that on average it counts "
                "in full: the gradient stays unbiased."
            )
        )
    k, weight = heaviest_weight(schedule, num_steps)
    if weight >= WEIGHT_WARNING:
        st.warning(
            _(
                "The path weight reaches 1/S = {weight} at {k} steps: that dependency enters the gradient in "
                "only {share} of the draws, multiplied by {weight} when it does. The estimate stays "
                "unbiased, but the term's variance is (1/S − 1) = {factor} times its square, so long "
                "dependencies add mostly noise (Tallec & Ollivier 2017). A larger π, a shorter window or "
                "ARTBP keeps the weight small."
            ).format(weight=f"{weight:,.3g}", k=k, share=f"{1 / weight:.2g}", factor=f"{weight - 1:,.3g}"),
            icon=":material/warning:",
        )
