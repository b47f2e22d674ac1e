"""The library's layout stays one a newcomer can read from the folder listing: few modules at the top of
bptt/, no file over MAX_LINES, folders instead of name prefixes, nothing in bptt/ or pages/ that only the
tests use, and README's "Layout" section lists exactly the modules there are."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_TOP_MODULES = 14
MAX_LINES = 350

# Top-level names that no code reads on purpose: N_() tables that exist so the message extractor puts
# their strings into the catalog (argparse looks its messages up itself; a run's status is translated
# with _(run.status) where it is shown).
READ_BY_THE_EXTRACTOR = {
    ("bptt/i18n/__init__.py", "ARGPARSE_MESSAGES"),
    ("bptt/hosting/runs.py", "STATUS_LABELS"),
}


def modules(*tops: str, root: Path = ROOT) -> list[Path]:
    out = []
    for top in tops:
        p = root / top
        out += [p] if p.is_file() else sorted(p.rglob("*.py"))
    return out


def rel(p: Path, root: Path = ROOT) -> str:
    return p.relative_to(root).as_posix()


def test_at_most_14_modules_directly_in_bptt():
    top = sorted(p.name for p in (ROOT / "bptt").glob("*.py"))
    assert len(top) <= MAX_TOP_MODULES, top


@pytest.mark.parametrize("path", [rel(p) for p in modules("bptt", "pages", "app.py")])
def test_no_file_over_350_lines(path):
    lines = (ROOT / path).read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{path} has {lines} lines: two concepts, split it along its topics"


def test_folders_not_name_prefixes():
    prefixed = [rel(p) for p in modules("bptt", "pages") if re.search(r"_(charts|cli)\.py$", p.name)]
    assert prefixed == []


def unused_definitions(
    tops: tuple[str, ...], defined_in: tuple[str, ...], root: Path = ROOT
) -> list[tuple[str, str]]:
    """(file, name) of every top-level function, class or assigned name in `defined_in` that no code in
    `tops` reads: no load of that name, no attribute of that name, no import of it. Matched by name, not
    by module (a name defined twice counts as used when either is), so it can miss dead code but never
    calls live code dead."""
    uses: Counter[str] = Counter()
    defs: list[tuple[str, str]] = []
    for path in modules(*tops, root=root):
        name = rel(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
                uses[node.id] += 1
            elif isinstance(node, ast.Attribute):
                uses[node.attr] += 1
            elif isinstance(node, ast.alias):
                uses[node.name.rsplit(".", 1)[-1]] += 1
        if not name.startswith(defined_in):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defs.append((name, node.name))
            elif isinstance(node, ast.Assign):
                defs += [(name, t.id) for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                defs.append((name, node.target.id))
    return [(f, n) for f, n in defs if uses[n] == 0 and not n.startswith("__")]


def test_nothing_in_the_library_or_the_pages_is_used_only_by_tests():
    unused = unused_definitions(("app.py", "bptt", "pages", "benchmarks"), ("bptt/", "pages/"))
    assert sorted(set(unused) - READ_BY_THE_EXTRACTOR) == [], "dead, or a test helper: move it to tests/"
    assert set(unused) >= READ_BY_THE_EXTRACTOR, "an allowed name is read by code now: drop it from the list"


def test_the_scan_sees_an_unused_function(tmp_path):
    """The scan itself, on a copy of a module with a function nobody calls added."""
    (tmp_path / "bptt").mkdir()
    src = (ROOT / "bptt" / "slices.py").read_text(encoding="utf-8")
    copy = tmp_path / "bptt" / "slices.py"
    copy.write_text(src)
    before = set(unused_definitions(("bptt",), ("bptt/",), root=tmp_path))
    copy.write_text(src + "\n\ndef nobody_calls_this():\n    return 1\n")
    after = set(unused_definitions(("bptt",), ("bptt/",), root=tmp_path))
    assert after - before == {("bptt/slices.py", "nobody_calls_this")}


def layout_section() -> list[str]:
    """The lines of the code block under README's '## Layout'."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1].strip("\n").splitlines()


WRAPPED = 16


def listed_files(lines: list[str], root: Path = ROOT) -> list[str]:
    """The .py paths a tree of 'name/' folders and 'name.py  what it holds' lines spells, two spaces of
    indent per level: 'bptt/' then '  lab/' then '    lags.py' is bptt/lab/lags.py. A folder's line stands
    for its __init__.py when it is a package. A line indented by WRAPPED spaces or more continues the
    description above it."""
    folders: list[str] = []
    out = []
    for line in lines:
        if not line.strip() or line.startswith(" " * WRAPPED):
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        folders = folders[:depth]
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
            if (root / "/".join(folders) / "__init__.py").is_file():
                out.append("/".join([*folders, "__init__.py"]))
        elif name.endswith(".py"):
            out.append("/".join([*folders, name]))
    return out


def test_readme_layout_lists_exactly_the_modules():
    listed = listed_files(layout_section())
    assert len(listed) == len(set(listed)), "a module listed twice"
    actual = {rel(p) for p in modules("bptt", "pages", "app.py")}
    assert set(listed) == actual, {
        "missing": sorted(actual - set(listed)),
        "extra": sorted(set(listed) - actual),
    }


def test_the_layout_parser_reads_nesting(tmp_path):
    (tmp_path / "bptt" / "lab").mkdir(parents=True)
    (tmp_path / "bptt" / "lab" / "__init__.py").write_text("")
    (tmp_path / "bptt" / "texts").mkdir()
    wrapped = " " * WRAPPED + "pages/ named in a wrapped description"
    lines = ["app.py  the frame", "bptt/", "  lab/", "    lags.py  lags", wrapped, "  texts/", "  data.py  x"]
    listed = listed_files(lines, root=tmp_path)
    assert listed == ["app.py", "bptt/lab/__init__.py", "bptt/lab/lags.py", "bptt/data.py"]
