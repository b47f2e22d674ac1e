"""A run exported for download: its per-step history as CSV, its settings as JSON (no Streamlit)."""

from __future__ import annotations

import json
from typing import Any

from ..i18n import use_language
from .runs import Run


def metrics_csv(trainer: Any) -> str:
    """The per-step history of a run as CSV (one row per minibatch)."""
    frame, _, _ = trainer.snapshot()
    return frame.to_csv(index=False)


def settings_json(run: Run) -> str:
    """A run's settings as JSON; `from_mapping` (or the URL) reads them back. The name is the English
    one whatever the page's language, so that a script reading exports sees the same name."""
    with use_language("en"):
        name = run.name
    return json.dumps(
        {"name": name, "corpus_name": run.trainer.corpus.name, "settings": run.cfg.to_dict()}, indent=2
    )
