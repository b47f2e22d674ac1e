"""The CLI flags of the run settings, generated from RunConfig's field metadata (bptt/config.py): each
subcommand gets one flag per setting whose metadata names it, typed, with its default and help."""

from __future__ import annotations

import argparse
from typing import Any

from ..config import FIELDS, RunConfig
from ..i18n import _


def add_setting_flags(parser, command: str, defaults: RunConfig, corpus_help: str) -> None:
    """--name-with-dashes for every setting `command` takes; --corpus also takes a file's path."""
    for f in FIELDS.values():
        if command not in f.cli:
            continue
        default = getattr(defaults, f.name)
        if f.name == "corpus":
            parser.add_argument(f.flag, default=default, help=corpus_help)
        elif f.kind is str:
            parser.add_argument(f.flag, default=default, choices=f.choices, help=f.help_text())
        else:
            text = _("{help} (default {default})").format(help=f.help_text(), default=default)
            parser.add_argument(f.flag, type=f.kind, default=default, help=text)


def setting_values(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """The settings `command` took as flags, by field name (the corpus aside: a flag may name a file)."""
    return {f.name: getattr(args, f.name) for f in FIELDS.values() if command in f.cli and f.name != "corpus"}
