"""What a closed dashboard session kept, given back (no Streamlit).

A session's runs live in its state (pages/ui/session.py). Streamlit keeps a disconnected session for
`server.disconnectedSessionTTL` seconds, so that a browser whose websocket dropped can reconnect to it,
and even then forgets it only when its session storage is next written (when another session
disconnects). The reaper does not wait for that. The page tells it which objects hold the session's runs
(`attach`, on every page run), when the session's connection closed (`away`) and when it is back
(`back`); a session away for longer than `grace` seconds has its holders released (each holder's
`release()`: the registry forgets its runs, the training lanes their latest run), and then the garbage
collector and glibc's malloc_trim give the freed memory back to the system.

Holders are kept by weak reference: the reaper never keeps a session's objects alive by itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import threading
import time
import weakref
from pathlib import Path
from typing import Any

log = logging.getLogger("bptt_lab.sessions")

SWEEP_SECONDS = 2.0  # how often the reaper looks for sessions away longer than the grace


def rss_mb(pid: int | str = "self") -> float:
    """A process's resident memory (VmRSS) in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def release_memory() -> None:
    """Collect the garbage (a run's objects can sit in reference cycles), then ask glibc to give its free
    pages back to the system (malloc_trim); elsewhere than glibc, only the first."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Reaper:
    """Releases the holders of sessions that went away more than `grace` seconds ago."""

    def __init__(self, grace: float, *, clock=time.monotonic, sweep_seconds: float = SWEEP_SECONDS,
                 release=release_memory) -> None:  # fmt: skip
        self.grace, self.clock, self.sweep_seconds = float(grace), clock, sweep_seconds
        self._release = release
        self._lock = threading.Lock()
        self._holders: dict[str, list[weakref.ref]] = {}
        self._away: dict[str, float] = {}  # session -> when its connection closed
        self._thread: threading.Thread | None = None

    def attach(self, session: str, *holders: Any) -> None:
        """Remember the objects (each with a `release()`) that hold this session's runs."""
        with self._lock:
            refs = self._holders.setdefault(session, [])
            known = {id(r()) for r in refs}
            refs.extend(weakref.ref(h) for h in holders if id(h) not in known)
            if self._thread is None and self.sweep_seconds > 0:
                self._thread = threading.Thread(target=self._loop, name="bptt-reaper", daemon=True)
                self._thread.start()

    def away(self, session: str) -> None:
        """The session's connection closed (it may come back within the grace)."""
        with self._lock:
            if session in self._holders:
                self._away[session] = self.clock()

    def back(self, session: str) -> None:
        """The session is connected again: nothing of it is released."""
        with self._lock:
            self._away.pop(session, None)

    def sessions(self) -> int:
        """Sessions whose holders the reaper knows (for tests and measurements)."""
        with self._lock:
            return len(self._holders)

    def sweep(self) -> int:
        """Release the holders of every session away longer than the grace, and give the memory back;
        forget sessions whose holders are gone anyway. Returns how many sessions were released."""
        now = self.clock()
        with self._lock:
            due = [s for s, t in self._away.items() if now - t >= self.grace]
            released = [h for s in due for h in (r() for r in self._holders.pop(s, [])) if h is not None]
            for s in due:
                del self._away[s]
            for s in [s for s, refs in self._holders.items() if all(r() is None for r in refs)]:
                del self._holders[s]
                self._away.pop(s, None)
        for holder in released:
            holder.release()
        del released
        if due:
            self._release()
            log.info("released %d closed session(s); resident memory now %.0f MB", len(due), rss_mb())
        return len(due)

    def _loop(self) -> None:
        while True:
            time.sleep(self.sweep_seconds)
            try:
                self.sweep()
            except Exception:  # a failing release must not stop later sweeps
                log.exception("releasing a closed session failed")


_shared: Reaper | None = None
_shared_lock = threading.Lock()


def shared_reaper(grace: float) -> Reaper:
    """The process's one reaper; `grace` (the first caller's) is Streamlit's disconnectedSessionTTL, so
    that nothing a session could still reconnect to is released."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Reaper(grace)
        return _shared
