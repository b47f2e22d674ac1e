"""requirements.txt resolves to the same pins with uv (how Streamlit Community Cloud installs it) and pip.

Hermetic: two "simple" package indexes served on loopback stand in for the package registry and for
PyTorch's CPU index. The stand-in PyTorch index is shaped like the real one: besides `torch 2.13.0+cpu`
it hosts older copies of packages everyone else takes from the registry (numpy, jinja2, markupsafe),
which is what makes an `--extra-index-url` line dangerous under uv's default index strategy
("first-index": a package found on an extra index is taken from that index only).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
LINUX_TAG = "py3-none-manylinux_2_28_x86_64"  # what the real torch wheels for Linux x86_64 carry


def _pins(text: str) -> dict[str, str]:
    """name -> version of every `name==version` line (markers and comments dropped)."""
    pins = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)", line.strip())
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


PINS = _pins((ROOT / "requirements.txt").read_text())


def _wheel(folder: Path, name: str, version: str, tag: str = "py3-none-any", requires=()) -> Path:
    """A minimal valid wheel: METADATA, WHEEL and RECORD, nothing to import."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        f"{dist}.dist-info/METADATA": "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}".format(
            name, version, "".join(f"Requires-Dist: {r}\n" for r in requires)
        ),
        f"{dist}.dist-info/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n"
        ),
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b'=').decode()},"
        f"{len(body.encode())}\n"
        for path, body in files.items()
    )
    files[f"{dist}.dist-info/RECORD"] = record + f"{dist}.dist-info/RECORD,,\n"
    path = folder / f"{dist}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name_, body in files.items():
            z.writestr(name_, body)
    return path


def _simple_index(root: Path, wheels: dict[str, list[Path]]) -> None:
    """A PEP 503 simple index under `root`: /<project>/ lists that project's wheels with their hashes."""
    root.mkdir(parents=True, exist_ok=True)
    links = []
    for project, paths in wheels.items():
        folder = root / project
        folder.mkdir(exist_ok=True)
        rows = []
        for p in paths:
            shutil.copy(p, folder / p.name)
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            rows.append(f'<a href="{p.name}#sha256={digest}">{p.name}</a><br/>')
        (folder / "index.html").write_text("<html><body>" + "".join(rows) + "</body></html>")
        links.append(f'<a href="{project}/">{project}</a><br/>')
    (root / "index.html").write_text("<html><body>" + "".join(links) + "</body></html>")


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    """(registry URL, PyTorch CPU index URL), both on loopback, serving stand-in wheels."""
    base = tmp_path_factory.mktemp("indexes")
    build = base / "build"
    build.mkdir()
    registry, cpu = {}, {}
    for name, version in PINS.items():
        if name == "torch":
            continue
        registry[name] = [_wheel(build, name, version), _wheel(build, name, "0.0.1")]
    # torch: the registry's Linux wheel is the CUDA build (plain version); the CPU index's is "+cpu".
    torch_deps = ["jinja2", "filelock"]
    registry["torch"] = [_wheel(build, "torch", PINS["torch"], LINUX_TAG, torch_deps)]
    registry["jinja2"] = [_wheel(build, "jinja2", "3.1.6", requires=["markupsafe>=2.0"])]
    registry["markupsafe"] = [_wheel(build, "markupsafe", "3.0.3")]
    registry["filelock"] = [_wheel(build, "filelock", "3.20.0")]
    cpu["torch"] = [_wheel(build, "torch", PINS["torch"] + "+cpu", LINUX_TAG, torch_deps)]
    # What the real CPU index also hosts, in older versions only.
    cpu["numpy"] = [_wheel(build, "numpy", "1.26.3")]
    cpu["jinja2"] = [_wheel(build, "jinja2", "3.1.4", requires=["markupsafe>=2.0"])]
    cpu["markupsafe"] = [_wheel(build, "markupsafe", "2.1.5")]
    cpu["filelock"] = [_wheel(build, "filelock", "3.13.1")]
    _simple_index(base / "www" / "simple", registry)
    _simple_index(base / "www" / "whl" / "cpu", cpu)

    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(base / "www"), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    yield f"{url}/simple", f"{url}/whl/cpu"
    server.shutdown()


def _requirements(tmp_path: Path, cpu_index: str, text: str | None = None) -> Path:
    """requirements.txt with PyTorch's CPU index replaced by the loopback stand-in."""
    text = (ROOT / "requirements.txt").read_text() if text is None else text
    assert REAL_CPU_INDEX in text, "requirements.txt no longer names PyTorch's CPU index"
    path = tmp_path / "requirements.txt"
    path.write_text(text.replace(REAL_CPU_INDEX, cpu_index))
    return path


def _clean_env() -> dict[str, str]:
    """No pip or uv settings from this machine (its pip.conf names local wheel folders)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return env | {"PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1", "PIP_RETRIES": "0"}


def resolve_with_pip(req: Path, registry: str, tmp_path: Path) -> dict[str, str]:
    report = tmp_path / "pip-report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
           "--disable-pip-version-check", "--no-cache-dir", "--index-url", registry,
           "--report", str(report), "-r", str(req)]  # fmt: skip
    subprocess.run(cmd, check=True, env=_clean_env(), capture_output=True, text=True, timeout=300)
    items = json.loads(report.read_text())["install"]
    return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in items}


def _uv() -> str:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not installed: requirements-dev.txt pins it")
    return uv


def resolve_with_uv(req: Path, registry: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """uv's default index strategy, as Community Cloud runs it: `uv pip compile` for Linux x86_64."""
    cmd = [_uv(), "pip", "compile", str(req), "--index-url", registry, "--no-header", "--no-annotate",
           "--python-platform", "x86_64-manylinux_2_28", "--python-version", "3.12",
           "--cache-dir", str(tmp_path / "uv-cache"), "--quiet"]  # fmt: skip
    return subprocess.run(cmd, env=_clean_env(), capture_output=True, text=True, timeout=300)


def test_uv_and_pip_pick_the_pins_and_the_cpu_torch(indexes, tmp_path):
    registry, cpu_index = indexes
    req = _requirements(tmp_path, cpu_index)
    uv = resolve_with_uv(req, registry, tmp_path)
    assert uv.returncode == 0, uv.stderr
    by_uv = _pins(uv.stdout)
    by_pip = resolve_with_pip(req, registry, tmp_path)
    assert by_uv == by_pip, (by_uv, by_pip)
    for name, version in PINS.items():
        expected = version + "+cpu" if name == "torch" else version
        assert by_uv[name] == expected, (name, by_uv[name])
    # Unpinned dependencies come from the registry, never from PyTorch's older copies.
    assert by_uv["jinja2"] == "3.1.6" and by_uv["markupsafe"] == "3.0.3" and by_uv["filelock"] == "3.20.0"


def test_the_extra_index_line_breaks_uv(indexes, tmp_path):
    """Why requirements.txt names only PyTorch's torch page: with the whole CPU index as an extra index,
    uv takes numpy from that index alone, where numpy==2.4.6 does not exist."""
    registry, cpu_index = indexes
    text = "\n".join(
        line for line in (ROOT / "requirements.txt").read_text().splitlines() if REAL_CPU_INDEX not in line
    )
    req = _requirements(tmp_path, cpu_index, f"--extra-index-url {REAL_CPU_INDEX}\n{text}\n")
    uv = resolve_with_uv(req, registry, tmp_path)
    assert uv.returncode != 0 and "numpy" in uv.stderr, uv.stdout + uv.stderr
    # pip merges every index and still finds the pins: the two installers disagree.
    by_pip = resolve_with_pip(req, registry, tmp_path)
    assert by_pip["numpy"] == PINS["numpy"]


def test_unreachable_cpu_page_falls_back_to_the_registry(indexes, tmp_path):
    """A machine that cannot reach PyTorch's index (an offline mirror, CI) still installs every pin."""
    registry, _ = indexes
    req = _requirements(tmp_path, "http://127.0.0.1:9/whl/cpu")  # port 9 (discard): refused at once
    by_pip = resolve_with_pip(req, registry, tmp_path)
    assert {n: v for n, v in by_pip.items() if n in PINS} == PINS
