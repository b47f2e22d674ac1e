"""README's tour shows the screenshots tests/test_browser_tour.py takes, one per stop in the book's order
(the guided path's steps, Train, the Gradient lab, Compare, Theory), and every image README shows is a
committed file."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


def tour() -> str:
    start = README.index("\n## A short tour\n")
    return README[start : README.index("\n## ", start + 1)]


def test_the_tour_shows_each_stop_once_in_the_books_order():
    shown = IMAGE.findall(tour())
    stops = ["path-recursion", "path-regular", "path-randomized", "path-comparison", "path-powers", "train",
             "lab", "compare", "theory"]  # fmt: skip
    assert shown == [f"docs/screenshots/tour-{n}-{stop}.png" for n, stop in enumerate(stops, start=1)]
    on_disk = sorted(p.name for p in (ROOT / "docs" / "screenshots").glob("tour-*.png"))
    assert on_disk == sorted(Path(s).name for s in shown), "a tour screenshot README does not show"


def test_every_image_readme_shows_is_committed():
    images = IMAGE.findall(README)
    assert images
    missing = [i for i in images if not (ROOT / i).is_file()]
    assert missing == []
