"""pages/ui/timing.py: a script run's server time, one JSON line per run, only when asked for."""

import json

import pytest

from pages.ui import timing


def test_nothing_is_written_unless_a_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(timing, "PATH", None)
    with timing.timed("page", page="train"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_run_writes_its_time_and_whether_it_finished(tmp_path, monkeypatch):
    path = tmp_path / "times.jsonl"
    monkeypatch.setattr(timing, "PATH", str(path))
    with timing.timed("panel", page="train", view="curves"):
        pass

    class Stopped(BaseException):  # as Streamlit's rerun and stop signals are
        pass

    with pytest.raises(Stopped), timing.timed("page", page="train", view="dh"):
        raise Stopped
    first, second = (json.loads(x) for x in path.read_text().splitlines())
    assert (first["kind"], first["view"], first["finished"]) == ("panel", "curves", True)
    assert (second["kind"], second["view"], second["finished"]) == ("page", "dh", False)
    assert 0 <= first["seconds"] < 1 and second["at"] >= first["at"]
