"""Fixtures for the browser tests: `streamlit run app.py` on a free port, and Debian's Chromium.

The server starts as Streamlit's own end-to-end tests start it (headless, no file watcher, no usage
stats); its log is kept so that a test can assert that no traceback reached it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("BPTT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"  # screenshots and logs of the browser tests (git-ignored)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    def __init__(self, port: int, log_path: Path, env: dict[str, str]):
        self.port, self.log_path = port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self._log = open(log_path, "w")  # noqa: SIM115 - kept open for the server's lifetime
        flags = {"server.headless": "true", "server.port": str(port), "server.address": "127.0.0.1",
                 "server.fileWatcherType": "none", "browser.gatherUsageStats": "false"}  # fmt: skip
        cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
        cmd += [arg for k, v in flags.items() for arg in (f"--{k}", v)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"streamlit did not start; log:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def start_server(name: str, **extra_env: str) -> AppServer:
    ARTIFACTS.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra_env}
    env.pop("BPTT_OFFLINE", None)
    env.setdefault("BPTT_DATA_URL", "http://127.0.0.1:9/")  # never the internet from a test: fall back fast
    return AppServer(free_port(), ARTIFACTS / f"{name}-server.log", env)


def require_chromium() -> None:
    """Skip the browser tests where Chromium is missing, except in CI, where that is a failure."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is not at {CHROMIUM}: .ci/run should have installed it")
        pytest.skip(f"Chromium is not installed ({CHROMIUM}); apt-get install -y chromium to run this test")


@pytest.fixture(scope="module")
def app_server(request):
    require_chromium()
    server = start_server(request.module.__name__.rsplit(".", 1)[-1])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()
