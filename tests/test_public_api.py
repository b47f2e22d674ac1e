"""The app uses Streamlit through its public API only: no module of Streamlit's beyond `streamlit` itself
is imported by app.py or a page, no private attribute of `st` is read, and none of the runtime's classes
that an earlier design patched is named (a patch of those ties the app to one release's internals)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "app.py", *sorted((ROOT / "pages").rglob("*.py"))]
INTERNALS = ("SafeSessionState", "AppSession", "ScriptRequests", "PagesManager", "get_script_run_ctx",
             "ScriptRunContext", "add_script_run_ctx")  # fmt: skip


def private_uses(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("streamlit.")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("streamlit"):
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if isinstance(node.value, ast.Name) and node.value.id == "st":
                found.append(f"st.{node.attr}")
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in INTERNALS:
                found.append(name)
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_streamlit(path):
    assert private_uses(path.read_text(encoding="utf-8")) == []


def test_the_check_sees_each_kind_of_private_use():
    assert private_uses("from streamlit.runtime.scriptrunner import get_script_run_ctx") == [
        "from streamlit.runtime.scriptrunner import ..."
    ]
    assert "streamlit.runtime" in private_uses("import streamlit.runtime")
    assert private_uses("import streamlit as st\nst._main") == ["st._main"]
    assert "SafeSessionState" in private_uses("x = SafeSessionState")
    assert private_uses("import streamlit as st\nst.session_state['a'] = 1") == []
