"""Maintain the message catalogs with Babel's Python API (a development tool: the app itself only reads
the compiled .mo through `gettext`, so the deployed app needs no Babel).

    python -m bptt.i18n.catalog update   # extract (babel.cfg) into the .pot, merge it into the .po
    python -m bptt.i18n.catalog compile  # .po -> .mo (commit both)
    python -m bptt.i18n.catalog check    # exit 1 if a message is missing, untranslated, fuzzy or stale

Extraction reads babel.cfg at the repository root with the keywords `_`, `N_` and `ngettext`.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages import mofile, pofile
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from . import DOMAIN, LOCALE_DIR

ROOT = Path(__file__).resolve().parents[2]
MAPPING = ROOT / "babel.cfg"
POT = LOCALE_DIR / f"{DOMAIN}.pot"
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "ngettext": (1, 2)}
LOCALES = ("zh",)
PROJECT = "BPTT Lab"


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(locale: str) -> Path:
    return po_path(locale).with_suffix(".mo")


def extract(root: Path = ROOT) -> Catalog:
    """Every message marked in the source under `root`, by the mapping in babel.cfg."""
    with open(MAPPING) as f:
        method_map, options_map = parse_mapping_cfg(f)
    template = Catalog(project=PROJECT, fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def _read(path: Path) -> Catalog:
    with open(path, "rb") as f:
        return pofile.read_po(f)


def _entries(catalog: Catalog) -> list:
    return [(m.id, m.locations, m.auto_comments) for m in catalog if m.id]


def read_po(locale: str) -> Catalog:
    with open(po_path(locale), "rb") as f:
        return pofile.read_po(f, locale=locale)


def read_mo(locale: str) -> Catalog:
    with open(mo_path(locale), "rb") as f:
        return mofile.read_mo(f)


def compiled(catalog: Catalog) -> bytes:
    """The .mo bytes of a catalog (fuzzy entries left out, as gettext would ignore them)."""
    buf = io.BytesIO()
    mofile.write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def _write_po(path: Path, catalog: Catalog, no_location: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pofile.write_po(
            f, catalog, width=110, sort_by_file=True, ignore_obsolete=True, no_location=no_location
        )


def update() -> None:
    """Extract into the .pot and merge it into each .po (new messages empty, changed ones fuzzy)."""
    template = extract()
    if not POT.exists() or _entries(_read(POT)) != _entries(template):  # no churn when nothing changed
        _write_po(POT, template)
    for locale in LOCALES:
        path = po_path(locale)
        catalog = read_po(locale) if path.exists() else Catalog(locale=locale, project=PROJECT, fuzzy=False)
        # The creation date stays: it is in the .mo, which would otherwise change at every update.
        catalog.update(template, update_header_comment=False, update_creation_date=False)
        # No source lines: an edit elsewhere in a file must not touch the .po (the .pot has them).
        _write_po(path, catalog, no_location=True)


def compile_all() -> None:
    for locale in LOCALES:
        mo_path(locale).write_bytes(compiled(read_po(locale)))


def _id(message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def problems(locale: str) -> list[str]:
    """Everything wrong with one locale's catalog, as lines (empty when all is well)."""
    out = []
    catalog = read_po(locale)
    source = {_id(m) for m in extract() if m.id}
    have = {_id(m) for m in catalog if m.id}
    out += [f"missing from {locale}: {m!r}" for m in sorted(source - have)]
    for m in catalog:
        if not m.id:
            continue
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if m.fuzzy:
            out.append(f"fuzzy in {locale}: {_id(m)!r}")
        elif not all(s for s in strings):
            out.append(f"untranslated in {locale}: {_id(m)!r}")
    if not mo_path(locale).exists() or mo_path(locale).read_bytes() != compiled(catalog):
        out.append(f"{mo_path(locale).name} of {locale} is not the compiled .po: run compile")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else ""
    if command == "update":
        update()
    elif command == "compile":
        compile_all()
    elif command == "check":
        found = [p for locale in LOCALES for p in problems(locale)]
        print("\n".join(found) or "catalogs OK")
        return 1 if found else 0
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
