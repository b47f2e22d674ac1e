"""The Gradient lab's tables as a reader reads them: each column headed in the reader's language with
its notation (d2l §8.7's g, ĝ, lag k), numbers to three significant figures, counts as integers. The
data keep their stable column names (tests, downloads); only the headers and formats are the reader's."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from bptt.i18n import _
from bptt.truncation import Strategy

SIGNIFICANT = "%.3g"
COUNT = "%,d"


def headers() -> dict[str, tuple[str, str]]:
    """Column name -> (header, number format)."""
    return {
        "lag": (_("Lag k"), COUNT),
        "share": (_("Share ⟨g_k, g⟩/‖g‖²"), SIGNIFICANT),
        "norm_ratio": (_("Size ‖g_k‖/‖g‖"), SIGNIFICANT),
        "tail_norm": (_("Tail ‖Σ_(j>k) g_j‖/‖g‖"), SIGNIFICANT),
        "bias": (_("Relative bias"), SIGNIFICANT),
        "variance": (_("Relative variance"), SIGNIFICANT),
        "mse": (_("Relative MSE"), SIGNIFICANT),
        "draws_to_see": (_("Draws to meet half the variance"), "%,.2g"),
        "draws": (_("Draws"), COUNT),
        "sampled_mse": (_("MSE over the draws"), SIGNIFICANT),
        "mse_se": (_("Its standard error"), "%.2g"),
        "exact_mse": (_("Exact MSE"), SIGNIFICANT),
        "cos_mean": (_("Mean cos(ĝ, g)"), SIGNIFICANT),
        "cos_min": (_("Smallest cos(ĝ, g)"), SIGNIFICANT),
    }


KEPT = re.compile(r"kept_(?P<label>.+?)(?P<sd>_std)?")


def header(column: str) -> tuple[str, str | None]:
    """The header and number format of one column (a name it does not know is shown as it is)."""
    known = headers()
    if column in known:
        return known[column]
    if column == "strategy":
        return _("Strategy"), None
    if column == "short":
        return _("Sample short of the exact value"), None
    if m := KEPT.fullmatch(column):
        strategy = Strategy.title_of(m["label"])
        text = _("Sd of the share kept by {strategy}") if m["sd"] else _("Share kept by {strategy}")
        return text.format(strategy=strategy), SIGNIFICANT
    return column, None


def column_config(frame: pd.DataFrame) -> dict:
    config = {}
    for column in frame.columns:
        text, fmt = header(str(column))
        if frame[column].dtype == bool:
            config[column] = st.column_config.CheckboxColumn(text)
        elif fmt is not None and pd.api.types.is_numeric_dtype(frame[column]):
            config[column] = st.column_config.NumberColumn(text, format=fmt)
        else:
            config[column] = st.column_config.Column(text)
    return config


def show(frame: pd.DataFrame, key: str | None = None) -> None:
    st.dataframe(frame, hide_index=True, column_config=column_config(frame), key=key)
