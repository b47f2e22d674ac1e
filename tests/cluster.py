"""deploy/'s topology without Docker: N `streamlit run app.py` replicas on loopback ports, Debian's nginx
in front of them, run as a plain process from a temporary prefix, with THE nginx config that deploy/
ships (deploy/nginx/bptt.conf.template, filled here as the nginx image's envsubst fills it in
compose.yaml), and one board database for all replicas: a throw-away PostgreSQL cluster
(tests/board_db.py), or a shared SQLite file where PostgreSQL is not installed.

`drive_class` is the load test both tests/test_two_replicas.py and benchmarks/two_replicas.py run:
sessions train through nginx, each stays on its replica across a dropped websocket, and all post to one
board.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import (
    ARTIFACTS,
    MAIN,
    SETTLED,
    PageWatch,
    app_tracebacks,
    button,
    control,
    free_port,
    page_blank,
    page_exceptions,
    poll,
    start_server,
    step_count,
    wait_settled,
)

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "nginx" / "bptt.conf.template"
NGINX = os.environ.get("BPTT_NGINX", "/usr/sbin/nginx")
ROUTE_COOKIE = "bptt_route"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def nginx_binary() -> str | None:
    return NGINX if Path(NGINX).exists() else shutil.which("nginx")


def render_template(text: str, values: dict[str, str]) -> str:
    """`${NAME}` replaced by values[NAME], as the nginx image's envsubst does for the variables that are
    set; every placeholder of the template must be given, and nothing else (a stale name is an error)."""
    names = set(PLACEHOLDER.findall(text))
    if names != set(values):
        raise ValueError(f"the template's placeholders are {sorted(names)}, given {sorted(values)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


# nginx's own frame around the shipped file, as the nginx image's /etc/nginx/nginx.conf includes it inside
# `http {}`. Everything in the prefix folder, so nginx runs as any user; worker_shutdown_timeout: on a
# reload the old worker closes its websockets after 2 s, so the browsers reconnect (the test's dropped
# websocket).
MAIN_CONF = """\
worker_processes 1;
error_log {dir}/error.log notice;
pid {dir}/nginx.pid;
worker_shutdown_timeout 2s;
{user}
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    include {dir}/bptt.conf;
}}
"""


class Proxy:
    """nginx in front of `servers` ("127.0.0.1:port"), listening on a free loopback port."""

    def __init__(self, servers: list[str], folder: Path) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (apt-get install -y nginx)")
        self.servers, self.dir = servers, folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_log = folder / "access.log"
        (folder / "tmp").mkdir(parents=True)
        upstreams = "\n    ".join(f"server {s};" for s in servers)
        conf = render_template(
            TEMPLATE.read_text(),
            {"BPTT_LISTEN": f"127.0.0.1:{self.port}", "BPTT_ACCESS_LOG": str(self.access_log),
             "BPTT_UPSTREAM_SERVERS": upstreams},
        )  # fmt: skip
        (folder / "bptt.conf").write_text(conf)
        # As root, nginx's workers run as `nobody` unless told otherwise: they keep root here, in a folder
        # of the test's own.
        user = "user root;" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(MAIN_CONF.format(dir=folder, user=user))
        cmd = [binary, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"]
        check = subprocess.run([*cmd, "-t"], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refused the rendered config:\n{check.stderr}\n{conf}")
        self._out = open(folder / "nginx.out", "w")  # noqa: SIM115 - open for nginx's lifetime
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT)
        try:
            poll(lambda: self._healthy(), 30, what="nginx answering /_stcore/health")
        except AssertionError:
            self.stop()
            log = (
                (folder / "error.log").read_text(errors="replace") if (folder / "error.log").exists() else ""
            )
            raise RuntimeError(
                f"nginx did not answer through to the replicas; its error log:\n{log}"
            ) from None

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                return r.read() == b"ok"
        except OSError:
            return False

    def reload(self) -> None:
        """Reload nginx (SIGHUP): its old worker closes every open websocket within 2 s."""
        self.proc.send_signal(signal.SIGHUP)

    def log_lines(self) -> list[dict]:
        """The access log, parsed: request, status, route (the sticky key) and upstream per line."""
        rows = []
        pattern = re.compile(r'"(\S+) (\S+) [^"]*" (\d+) route=(\S+) upstream=(\S+)')
        for line in self.access_log.read_text(errors="replace").splitlines():
            if m := pattern.search(line):
                method, path, status, route, upstream = m.groups()
                rows.append({"method": method, "path": path, "status": int(status), "route": route,
                             "upstream": upstream})  # fmt: skip
        return rows

    def upstream_of(self, route: str) -> str | None:
        """The replica that served the last logged request of this route."""
        hits = [r["upstream"] for r in self.log_lines() if r["route"] == route]
        return hits[-1] if hits else None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._out.close()


@contextmanager
def board_database(folder: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """("postgresql" | "sqlite", the environment that points every replica at one board database)."""
    from board_db import pg_bin, postgres_cluster

    if pg_bin() is None and not os.environ.get("CI"):
        yield "sqlite", {"BPTT_BOARD_DB": str(folder / "board.sqlite3")}
        return
    with postgres_cluster() as url:
        yield "postgresql", {"BPTT_BOARD_URL": url}


@contextmanager
def two_replicas(name: str, replicas: int = 2) -> Iterator[dict]:
    """The whole topology; yields {"proxy", "servers", "database", "env"}; everything stops at the end."""
    folder = Path(tempfile.mkdtemp(prefix="bptt-cluster-"))
    os.chmod(folder, 0o755)
    servers, proxy = [], None
    try:
        with board_database(folder) as (database, env):
            # One cookie secret for all replicas, as compose.yaml sets it: Streamlit signs its XSRF cookie.
            env = {**env, "STREAMLIT_SERVER_COOKIE_SECRET": "bptt-two-replicas-test"}
            for i in range(replicas):
                servers.append(start_server(f"{name}-replica{i}", **env))
            proxy = Proxy([f"127.0.0.1:{s.port}" for s in servers], folder / "nginx")
            yield {"proxy": proxy, "servers": servers, "database": database, "env": env}
    finally:
        if proxy is not None:
            proxy.stop()
            with contextlib.suppress(OSError):
                shutil.copy(proxy.access_log, ARTIFACTS / f"{name}-nginx-access.log")
        for s in servers:
            s.stop()
        shutil.rmtree(folder, ignore_errors=True)


# -- the class: sessions through nginx ---------------------------------------------------------------

TIMEOUT_MS = 120_000  # a loaded machine (a full suite, other sessions) makes page runs slow


def settle(page) -> None:
    page.wait_for_selector(SETTLED, timeout=TIMEOUT_MS)
    page.wait_for_function("!document.querySelector(\"[data-testid='stSkeleton']\")", timeout=TIMEOUT_MS)


def type_into(page, key: str, text: str) -> None:
    box = page.locator(f"{MAIN} .st-key-{key} input")
    box.fill(text)
    box.press("Enter")
    page.wait_for_timeout(300)
    settle(page)


def route_cookie(pw: PageWatch) -> str | None:
    return next((c["value"] for c in pw.context.cookies() if c["name"] == ROUTE_COOKIE), None)


def new_student(browser, proxy: Proxy, want: str, tries: int = 60) -> tuple[PageWatch, str, int]:
    """A browser context whose route cookie, set by nginx on its first response, sends it to the replica
    `want`: contexts are drawn until one lands there (each lands on a given replica of two with
    probability about 1/2), so that the test puts sessions on every replica whatever the hash does.
    Returns the context, its route and the number of contexts drawn."""
    for n in range(1, tries + 1):
        pw = PageWatch(browser, height=1400)
        pw.context.request.get(proxy.url + "/_stcore/health")
        route = route_cookie(pw)
        if route is None:
            pw.close()
            raise AssertionError("nginx set no route cookie on a browser's first response")
        if proxy.upstream_of(route) == want:
            return pw, route, n
        pw.close()
    raise AssertionError(f"no route cookie reached {want} in {tries} draws")


def create_board(browser, proxy: Proxy, title: str) -> tuple[PageWatch, str]:
    """A lecturer's context creates a board on the board page; (its context, the board's code)."""
    lecturer = PageWatch(browser, height=1400)
    page = lecturer.page
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(proxy.url + "/board")
    settle(page)
    type_into(page, "board_title_input", title)
    button(page, "btn_board_create").click()
    heading = page.locator(f"{MAIN} h3").filter(has_text=re.compile(r"Board [A-Z0-9]{6}"))
    code = re.search(r"[A-Z0-9]{6}", heading.first.inner_text()).group(0)
    return lecturer, code


def post_enabled(page) -> bool:
    """The Post button is on the page and enabled (without waiting for it, as a locator would)."""
    js = """() => [...document.querySelectorAll("[data-testid='stMain'] .st-key-btn_board_post button")]
                  .some(b => b.offsetParent !== null && !b.disabled)"""
    return bool(page.evaluate(js))


def reconnected(page) -> bool:
    """The page's websocket is up: Streamlit's status widget says neither "Connecting" nor "Error" (it
    says so while the browser reconnects; a click there reaches no session)."""
    js = """() => { const w = document.querySelector("[data-testid='stStatusWidget']");
                    return !(w && /connecting|error|unable/i.test(w.innerText)); }"""
    return bool(page.evaluate(js))


def train_query(i: int) -> str:
    """Session i's settings: a tiny run on the bundled corpus, regular truncation at k = 2 + i (so that the
    board's k axis spreads the posts), seed i."""
    tiny = "/train?corpus=bundled&max_tokens=2000&num_hiddens=32&epochs=20"
    return f"{tiny}&truncation=regular&k={2 + i}&seed={i}"


def drive_class(browser, cluster: dict, sessions: int, store_posts) -> dict:
    """`sessions` students, spread evenly over the replicas: each opens Train through nginx, trains a tiny
    run to its end, and posts it to one board; then nginx reloads, which drops every websocket, and each
    page must reconnect to its own session (its run still shown after a rerun) on its own replica. The
    lecturer's board page shows every post. `store_posts(code)` reads the posts from the database itself.
    Returns the figures and the failures found (empty when all held)."""
    proxy: Proxy = cluster["proxy"]
    t0 = time.monotonic()
    failures: list[str] = []
    lecturer, code = create_board(browser, proxy, "Two replicas")
    students, routes, draws, replica_of = [], [], [], []
    for i in range(sessions):
        want = proxy.servers[i % len(proxy.servers)]
        pw, route, n = new_student(browser, proxy, want)
        pw.page.set_default_timeout(TIMEOUT_MS)
        pw.page.goto(proxy.url + train_query(i))
        students.append(pw)
        routes.append(route)
        draws.append(n)
        replica_of.append(want)
    for pw in students:
        wait_settled(pw.page, timeout=120)
    t_start = time.monotonic()
    for pw in students:
        control(pw.page, "Start").click()
        pw.page.locator(MAIN).get_by_text("Post this run to a class board").click()
    # Trained to the end: Post is enabled only for a finished run. Seen by a poller that visits every page
    # in turn (so a time is when the poller saw it, within one round over the pages).
    finished_at = [None] * sessions
    deadline = time.monotonic() + 120 + 20 * sessions
    while time.monotonic() < deadline and None in finished_at:
        for i, pw in enumerate(students):
            if finished_at[i] is None and post_enabled(pw.page):
                finished_at[i] = time.monotonic() - t_start
        time.sleep(0.5)
    steps = [step_count(pw.page) for pw in students]
    posted = [False] * sessions
    for i, pw in enumerate(students):
        if finished_at[i] is None:
            failures.append(f"session {i} did not finish its run")
            continue
        page = pw.page
        type_into(page, "board_post_code", code)
        type_into(page, "board_post_name", f"student {i}")
        button(page, "btn_board_post").click()
        try:
            page.locator(MAIN).get_by_text(re.compile(f"to board {code} as post \\d+")).wait_for()
            posted[i] = True
        except Exception:
            failures.append(f"session {i}: no confirmation of its post")
    # Every websocket drops (nginx reloads); each page reconnects through nginx to its session, which
    # only its own replica has. A rerun (a view click) then draws the page from the session's state: its
    # finished run is still there, or the page is a fresh session with no run.
    proxy.reload()
    time.sleep(4)
    kept = []
    for i, pw in enumerate(students):
        page = pw.page
        try:
            poll(lambda p=page: reconnected(p), 120, what="the page connected again")
            speed = page.locator(f"{MAIN} .st-key-ui_view button").filter(has_text="Speed").first
            speed.click()
            poll(lambda s=speed: s.get_attribute("aria-checked") == "true", 120, what="the Speed view chosen")
            settle(page)
            kept.append(step_count(page) == steps[i] and steps[i] is not None)
        except Exception as e:
            kept.append(False)
            failures.append(f"session {i}: after the reconnect: {e}")
    for i, ok in enumerate(kept):
        if not ok:
            failures.append(f"session {i} lost its run after the websocket reconnected")
    # The lecturer's board shows every post.
    page = lecturer.page
    button(page, "btn_board_refresh").click()
    settle(page)

    def shown() -> int | None:
        m = re.search(r"(\d+) of \d+ posts", page.locator(MAIN).inner_text())
        return int(m.group(1)) if m else None

    # The page before the refresh may still be on screen: wait for the count to reach every post.
    with contextlib.suppress(AssertionError):
        poll(lambda: shown() == sessions, 60, what="every post on the board page")
    board_shows = shown()
    page.screenshot(path=str(ARTIFACTS / f"two-replicas-board-{sessions}.png"), full_page=True)
    posts = store_posts(code)
    errors = []
    for pw in [*students, lecturer]:
        errors.append(pw.errors + page_exceptions(pw.page) + (["blank page"] if page_blank(pw.page) else []))
        pw.close()
    time.sleep(1.0)  # the closed websockets' log lines
    # Per session: every request of its route went to one replica, the one it was meant for; its
    # websocket was opened at least twice (once before the reload, once after).
    log = proxy.log_lines()
    per_route = {r: {x["upstream"] for x in log if x["route"] == r} for r in routes}
    streams = {r: sum(1 for x in log if x["route"] == r and x["path"].startswith("/_stcore/stream"))
               for r in routes}  # fmt: skip
    for i, r in enumerate(routes):
        if per_route[r] != {replica_of[i]}:
            failures.append(f"session {i} reached {sorted(per_route[r])}, not only {replica_of[i]}")
        if streams[r] < 2:
            failures.append(f"session {i} opened its websocket {streams[r]} time(s), not twice (a reconnect)")
    if board_shows != sessions:
        failures.append(f"the board page shows {board_shows} posts, not {sessions}")
    names = sorted(p.entry.name for p in posts)
    if names != sorted(f"student {i}" for i in range(sessions)):
        failures.append(f"the database holds {len(posts)} posts: {names}")
    for i, e in enumerate(errors):
        if e:
            failures.append(f"page {i} errors: {e}")
    tracebacks = [app_tracebacks(s.log()) for s in cluster["servers"]]
    if any(tracebacks):
        failures.append(f"tracebacks in the replicas' logs: {tracebacks}")
    per_replica = {s: replica_of.count(s) for s in proxy.servers}
    if min(per_replica.values()) == 0:
        failures.append(f"a replica got no session: {per_replica}")
    return {
        "sessions": sessions,
        "replicas": len(proxy.servers),
        "database": cluster["database"],
        "sessions_per_replica": list(per_replica.values()),
        "route_draws": draws,
        "finished_seen_after_s": [None if f is None else round(f, 1) for f in finished_at],
        "steps": steps,
        "kept_run_after_reconnect": kept,
        "websockets_per_session": [streams[r] for r in routes],
        "board_shows": board_shows,
        "posts_in_database": len(posts),
        "confirmed_posts_per_replica": [
            sum(1 for i in range(sessions) if posted[i] and replica_of[i] == s) for s in proxy.servers
        ],
        "wall_s": round(time.monotonic() - t0, 1),
        "failures": failures,
    }
