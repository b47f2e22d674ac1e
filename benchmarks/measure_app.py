"""The dashboard's measured figures, in a real browser against fresh `streamlit run app.py` servers.

    python benchmarks/measure_app.py [--parts abcde] [--reps 3] [--seconds 20]
                                     [--load-sessions 6] [--load-seconds 60]

(a) Start click -> first chart update: from the click (the browser's event time) to the Step metric
    showing a value > 0 and to the loss chart holding data, each on a fresh page (a new session);
    median of --reps.
(b) Pause click -> server -> page, while a run trains: click -> the browser sends the rerun request
    (a WebSocket message) -> the first message of the full rerun that the click started arrives from
    the server (its new_session, whose run carries no fragment id) -> the Pause button's answer is on
    the page (Resume enabled). Times are the page's own clock (performance.now()), read by a spy on
    the page's WebSocket; a message's time is when the page's main thread handles it. (The run control's
    Pause chosen on the page stands for the old "Resume enabled".)
(c) Training throughput in the app vs the CLI at the same settings: the app trains for --seconds;
    tokens/s = steps x batch x num_steps over wall time since the Start click, and the same over the
    time between the first and the last step the page showed ("steady"). The app runs once with
    BPTT_MAX_TRAINING=1 (torch gets both cores, as the CLI) and once with the default 2 (one thread).
    The CLI (`python -m bptt train`) runs the same model for --cli-epochs epochs; it reports its own
    compute-only tokens/s and its wall time.
(d) Server RSS: bare, with one page open, and the peak while one session trains.
(e) Load: --load-sessions pages train at once for --load-seconds: steps per session, peak RSS, the
    server's CPU, time to idle (< 10% of a core over 1 s) once the pages close.

The machine is small and may be shared: run it on a quiet machine and compare figures from one run.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from conftest import (  # noqa: E402
    CHROMIUM,
    PageWatch,
    chosen,
    control,
    metric,
    poll,
    proc_rss_mb,
    start_server,
    wait_chosen,
    wait_settled,
    wait_steps_above,
)

BATCH, NUM_STEPS = 32, 35  # the defaults; every URL below keeps them
CONFIG = {"corpus": "bundled", "max_tokens": 20000, "num_hiddens": 256, "epochs": 1000}  # H=256: the book's
URL = "/train?" + "&".join(f"{k}={v}" for k, v in CONFIG.items())

SPY = r"""
(() => {
  const B = window.__bptt = {log: [], clicks: [], marks: {}, capture: false};
  const b64 = u8 => {
    let s = '';
    for (let i = 0; i < u8.length; i += 0x8000)
      s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
    return btoa(s);
  };
  // Top-level field numbers of a protobuf message, read from the tags only (the bodies are skipped).
  const fields = u8 => {
    const out = [];
    let i = 0;
    const varint = () => {
      let v = 0, m = 1, b;
      do { b = u8[i++]; v += (b & 127) * m; m *= 128; } while (b & 128 && i < u8.length);
      return v;
    };
    while (i < u8.length) {
      const tag = varint(), wt = tag % 8;
      out.push(Math.floor(tag / 8));
      if (wt === 0) varint();
      else if (wt === 1) i += 8;
      else if (wt === 2) { const n = varint(); i += n; }
      else if (wt === 5) i += 4;
      else break;
    }
    return out;
  };
  const bytes = d => d instanceof ArrayBuffer ? new Uint8Array(d)
    : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : null;
  class Spy extends window.WebSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', e => {
        if (!B.capture) return;
        const t = performance.now(), u8 = bytes(e.data);
        if (!u8) { B.log.push({kind: 'recv', t}); return; }
        const f = fields(u8);  // 4: new_session, the first message of every script run
        B.log.push({kind: 'recv', t, size: u8.length, fields: f, data: f.includes(4) ? b64(u8) : null});
      });
    }
    send(d) {
      if (B.capture) {
        const u8 = bytes(d);
        B.log.push({kind: 'send', t: performance.now(), data: u8 ? b64(u8) : null});
      }
      return super.send(d);
    }
  }
  window.WebSocket = Spy;
  document.addEventListener('click', e => B.clicks.push(e.timeStamp), true);
  // Record when a condition first holds: checked on every DOM change and every 10 ms.
  B.watch = (name, fn) => {
    const check = () => {
      if (name in B.marks) return;
      try { if (fn()) B.marks[name] = performance.now(); } catch (e) {}
    };
    const mo = new MutationObserver(check);
    mo.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    const iv = setInterval(() => {
      check();
      if (name in B.marks) { clearInterval(iv); mo.disconnect(); }
    }, 10);
  };
  B.step = () => {
    for (const m of document.querySelectorAll("[data-testid='stMain'] [data-testid='stMetric']")) {
      if (m.querySelector("[data-testid='stMetricLabel']")?.innerText.trim() === 'Step')
        return Number(m.querySelector("[data-testid='stMetricValue']").innerText.replace(/,/g, ''));
    }
    return null;
  };
  B.points = k => {
    const sel = `[data-testid='stMain'] .st-key-${k}:not([data-stale='true']) .js-plotly-plot`;
    const g = document.querySelector(sel);
    return g?._fullData?.length ? g._fullData[0]._length || 0 : 0;
  };
  B.enabled = k => [...document.querySelectorAll(`[data-testid='stMain'] .st-key-${k} button`)]
    .some(b => b.offsetParent && !b.disabled);
  B.trackSteps = () => {
    B.steps = [];
    let last = null;
    B.stepTimer = setInterval(() => {
      const s = B.step();
      if (s !== null && s !== last) { B.steps.push([performance.now(), s]); last = s; }
    }, 20);
  };
})();
"""


def new_page(browser, server, path: str = URL) -> PageWatch:
    pw = PageWatch(browser, height=1200)
    pw.context.add_init_script(SPY)
    pw.page.set_default_timeout(60_000)
    pw.page.goto(server.url + path)
    wait_settled(pw.page, timeout=120)
    return pw


def stop_and_close(pw: PageWatch) -> None:
    """Stop the run and wait for the server's answer before closing: a page closed at once can leave
    its session holding a training slot until the slot goes stale (5 s)."""
    control(pw.page, "Stop").click()
    wait_chosen(pw.page, None, timeout=30)
    pw.close()


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# -- (a) ----------------------------------------------------------------------------------------------


def start_to_chart(browser, server, reps: int) -> dict:
    """Click Start on a fresh page; ms until Step > 0 and until the loss chart has data."""
    step_ms, chart_ms = [], []
    for _ in range(reps):
        pw = new_page(browser, server)
        page = pw.page
        page.evaluate("""() => { const B = window.__bptt;
            B.watch('step', () => B.step() > 0); B.watch('chart', () => B.points('chart_loss') > 0); }""")
        control(page, "Start").click()
        js = "() => 'step' in __bptt.marks && 'chart' in __bptt.marks"
        poll(lambda p=page, js=js: p.evaluate(js), 60, 0.1, what="the first chart")
        m = page.evaluate("() => ({click: __bptt.clicks.at(-1), ...__bptt.marks})")
        step_ms.append(m["step"] - m["click"])
        chart_ms.append(m["chart"] - m["click"])
        stop_and_close(pw)
    return {"step_ms": step_ms, "chart_ms": chart_ms}


# -- (b) ----------------------------------------------------------------------------------------------


def decode(entry: dict):
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    raw = base64.b64decode(entry["data"])
    return (BackMsg if entry["kind"] == "send" else ForwardMsg).FromString(raw)


def pause_latency(browser, server, reps: int) -> dict:
    """While a run trains: Pause click -> request sent -> the full rerun's first message back -> the
    page shows Resume enabled. Between repetitions the run resumes and trains for 3 s."""
    pw = new_page(browser, server)
    page = pw.page
    control(page, "Start").click()
    wait_steps_above(page, 0, timeout=60)
    rows = []
    for _ in range(reps):
        page.wait_for_timeout(3000)
        page.evaluate("""() => { const B = window.__bptt; B.log = []; B.marks = {}; B.capture = true;
                                 B.watch('resume', () => (document.querySelector(
                                   "[data-testid='stMain'] .st-key-train_controls button[aria-checked='true']"
                                 ) || {}).innerText?.trim() === 'Pause'); }""")
        control(page, "Pause").click()
        poll(lambda: page.evaluate("() => 'resume' in __bptt.marks"), 30, 0.05, what="Resume enabled")
        page.wait_for_timeout(300)
        got = page.evaluate(
            "() => { __bptt.capture = false; return {click: __bptt.clicks.at(-1), "
            "resume: __bptt.marks.resume, log: __bptt.log}; }"
        )
        sent = answer = None
        for e in got["log"]:
            if e["t"] < got["click"] or not e.get("data"):
                continue
            msg = decode(e)
            kind = msg.WhichOneof("type")
            if sent is None and e["kind"] == "send" and kind == "rerun_script":
                if not msg.rerun_script.fragment_id:  # the click's full rerun, not a timer tick
                    sent = e["t"]
            elif sent is not None and e["kind"] == "recv" and kind == "new_session":  # noqa: SIM102
                if not msg.metadata.run.fragment_ids:  # a full run, not a fragment's
                    answer = e["t"]
                    break
        rows.append(
            {
                "send_ms": (sent - got["click"]) if sent else float("nan"),
                "server_ms": (answer - sent) if sent and answer else float("nan"),
                "click_to_answer_ms": (answer - got["click"]) if answer else float("nan"),
                "ui_ms": got["resume"] - got["click"],
            }
        )
        control(page, "Resume").click()
        poll(lambda: chosen(page) == "Running", 30, what="Running chosen")
    stop_and_close(pw)
    return {k: [r[k] for r in rows] for k in rows[0]}


# -- (c), (d) -------------------------------------------------------------------------------------------


def app_throughput(browser, server, seconds: float) -> dict:
    """One session trains for `seconds`; tokens/s from the steps the page showed, and the server's RSS."""
    pid = server.proc.pid
    rss_bare = proc_rss_mb(pid)
    pw = new_page(browser, server)
    page = pw.page
    rss_page = proc_rss_mb(pid)
    page.evaluate("() => __bptt.trackSteps()")
    control(page, "Start").click()
    click = page.evaluate("() => __bptt.clicks.at(-1)")
    rss_peak, end = rss_page, time.monotonic() + seconds
    while time.monotonic() < end:
        rss_peak = max(rss_peak, proc_rss_mb(pid))
        time.sleep(0.5)
    steps = page.evaluate("() => { clearInterval(__bptt.stepTimer); return __bptt.steps; }")
    shown_tps = metric(page, "Tokens / s")
    stop_and_close(pw)
    steps = [(t, s) for t, s in steps if s > 0]
    if not steps:
        raise RuntimeError(f"the page showed no step; server log:\n{server.log()[-2000:]}")
    (t0, s0), (t1, s1) = steps[0], steps[-1]
    per_step = BATCH * NUM_STEPS
    return {
        "steps": s1,
        "since_start": s1 * per_step / ((t1 - click) / 1000),
        "steady": (s1 - s0) * per_step / ((t1 - t0) / 1000) if t1 > t0 else float("nan"),
        "shown": float((shown_tps or "nan").replace(",", "")),
        "rss_bare_mb": rss_bare,
        "rss_page_mb": rss_page,
        "rss_peak_mb": rss_peak,
    }


def pin_server(server, cpu: int) -> None:
    """Pin every thread of the app server to one CPU (threads it starts later inherit it)."""
    subprocess.run(
        ["taskset", "-a", "-p", "-c", str(cpu), str(server.proc.pid)], check=True, capture_output=True
    )


def cli_throughput(epochs: int, cpu: int | None = None) -> dict:
    args = [f"--{k.replace('_', '-')}={v}" for k, v in {**CONFIG, "epochs": epochs}.items()]
    cmd = [sys.executable, "-m", "bptt", "train", *args, "--quiet"]
    if cpu is not None:  # one core, hence one torch thread: the app's setting with two slots
        cmd = ["taskset", "-c", str(cpu), *cmd]
    env = {**os.environ, "BPTT_DATA_URL": "http://127.0.0.1:9/"}
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    result = json.loads(out.stdout.strip().splitlines()[-1])
    threads = subprocess.run(
        [
            *(["taskset", "-c", str(cpu)] if cpu is not None else []),
            sys.executable,
            "-c",
            "import torch; print(torch.get_num_threads())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {
        "tokens_per_sec": result["tokens_per_sec"],
        "wall_tokens_per_sec": result["tokens"] / result["seconds"],
        "process_tokens_per_sec": result["tokens"] / wall,
        "seconds": result["seconds"],
        "steps": result["steps"],
        "threads": int(threads),
    }


# -- the script ---------------------------------------------------------------------------------------


def each(xs) -> str:
    return "each: " + ", ".join(f"{x:.0f}" for x in xs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="abcde", help="which measurements: any of a, b, c, d, e")
    ap.add_argument("--reps", type=int, default=3, help="repetitions for (a) and (b)")
    ap.add_argument("--seconds", type=float, default=20, help="training time per app run for (c)")
    ap.add_argument("--cli-epochs", type=int, default=160, help="epochs of the CLI run for (c)")
    ap.add_argument(
        "--pin",
        action="store_true",
        help="(c) on separate cores: the app server (2 slots, 1 torch thread) and the CLI on CPU 0, "
        "Chromium on CPU 1, so the browser that a real visitor runs elsewhere does not take the "
        "server's core",
    )
    ap.add_argument("--load-sessions", type=int, default=6)
    ap.add_argument("--load-seconds", type=float, default=60)
    args = ap.parse_args(argv)
    parts, cores = set(args.parts), os.cpu_count() or 1
    summary: list[tuple[str, str, str]] = []  # (figure, value, conditions)

    def row(figure: str, value: str, cond: str = "") -> None:
        summary.append((figure, value, cond))
        print(f"  {figure}: {value}" + (f"  [{cond}]" if cond else ""), flush=True)

    from playwright.sync_api import sync_playwright

    if args.pin:
        os.sched_setaffinity(0, {1})  # this script and the Chromium it launches

    print(f"config: {CONFIG}, batch {BATCH} x num_steps {NUM_STEPS}; {cores} cores; Chromium {CHROMIUM}")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        if parts & set("abd"):
            server = start_server("measure")
            rss_fresh = proc_rss_mb(server.proc.pid)
            try:
                if "a" in parts:
                    print("(a) Start click -> first chart update", flush=True)
                    r = start_to_chart(browser, server, args.reps)
                    row("Start -> Step > 0 (ms, median)", f"{median(r['step_ms']):.0f}", each(r["step_ms"]))
                    cond = each(r["chart_ms"]) + "; a fresh page each, the first on a fresh server"
                    row("Start -> loss chart has data (ms, median)", f"{median(r['chart_ms']):.0f}", cond)
                if "b" in parts:
                    print("(b) Pause click while training", flush=True)
                    r = pause_latency(browser, server, args.reps)
                    for key, label in [
                        ("send_ms", "Pause click -> request sent (ms, median)"),
                        ("server_ms", "request sent -> full rerun's first message back (ms)"),
                        ("click_to_answer_ms", "Pause click -> first message back (ms, median)"),
                        ("ui_ms", "Pause click -> Resume enabled on the page (ms, median)"),
                    ]:
                        row(label, f"{median(r[key]):.0f}", each(r[key]))
                if "d" in parts:
                    print("(d) server RSS, one session training", flush=True)
                    r = app_throughput(browser, server, min(args.seconds, 15))
                    row("server RSS, fresh server (MB)", f"{rss_fresh:.0f}", "no session yet")
                    after = "after (a) and (b) ran, their pages closed" if parts & set("ab") else "no page"
                    row("server RSS before the page opens (MB)", f"{r['rss_bare_mb']:.0f}", after)
                    row("server RSS, one page open (MB)", f"{r['rss_page_mb']:.0f}")
                    cond = f"H={CONFIG['num_hiddens']}, {r['steps']} steps"
                    row("server RSS peak, one session training (MB)", f"{r['rss_peak_mb']:.0f}", cond)
            finally:
                server.stop()
        if "c" in parts:
            print("(c) throughput: app vs CLI", flush=True)
            app = {}
            for slots in (2,) if args.pin else (1, 2):
                server = start_server(f"measure-slots{slots}", BPTT_MAX_TRAINING=str(slots))
                if args.pin:
                    pin_server(server, 0)
                try:
                    app[slots] = app_throughput(browser, server, args.seconds)
                finally:
                    server.stop()
            cli = cli_throughput(args.cli_epochs, cpu=0 if args.pin else None)
            for slots, r in app.items():
                threads = max(1, cores // slots)
                cond = f"BPTT_MAX_TRAINING={slots}, torch threads {threads}, {r['steps']} steps"
                row(f"app tokens/s since Start, slots={slots}", f"{r['since_start']:,.0f}", cond)
                row(f"app tokens/s steady, slots={slots}", f"{r['steady']:,.0f}", "first to last step shown")
                row(f"app 'Tokens / s' metric, slots={slots}", f"{r['shown']:,.0f}", "last 20 steps, compute")
            cond = f"torch threads {cli['threads']}, {cli['steps']} steps in {cli['seconds']:.1f} s"
            row("CLI tokens/s (compute)", f"{cli['tokens_per_sec']:,.0f}", cond)
            row("CLI tokens/s (wall, training loop)", f"{cli['wall_tokens_per_sec']:,.0f}")
            row(
                "CLI tokens/s (wall, whole process)", f"{cli['process_tokens_per_sec']:,.0f}", "with start-up"
            )
            for slots, r in app.items():
                wall = cli["wall_tokens_per_sec"]
                row(f"app since Start / CLI wall, slots={slots}", f"{r['since_start'] / wall:.2f}")
                row(f"app steady / CLI wall, slots={slots}", f"{r['steady'] / wall:.2f}")
        if "e" in parts:
            print(f"(e) load: {args.load_sessions} sessions for {args.load_seconds:g} s", flush=True)
            from test_load import LOAD, drive_sessions, format_load

            server = start_server("measure-load")
            try:
                r = drive_sessions(browser, server, args.load_sessions, args.load_seconds)
            finally:
                server.stop()
            print("  " + format_load(r))
            cond = f"{args.load_sessions} sessions, {r['seconds']:.0f} s, {LOAD}"
            row("load: steps per session", " ".join(map(str, r["steps"])), cond)
            row("load: sessions that saw the queue", str(sum(r["queued"])))
            row("load: server CPU while training", f"{r['cpu_share']:.0%}", "of one core")
            row(
                "load: Chromium + Playwright CPU",
                f"{r['browser_cpu_share']:.0%}",
                "of one core, same machine",
            )
            row("load: peak RSS (MB)", f"{r['rss_peak_mb']:.0f}")
            row(
                "load: time to idle after closing (s)", f"{r['idle_after_s']:.1f}", "< 10% of a core over 1 s"
            )
            row("load: errors (pages + server log)", str(sum(map(len, r["errors"])) + r["log_tracebacks"]))
        browser.close()

    width = max(len(f) for f, _, _ in summary)
    print("\nsummary")
    for figure, value, cond in summary:
        print(f"  {figure:<{width}}  {value:>14}  {cond}")
    out = ROOT / "benchmarks" / "results" / f"measure_app_{''.join(sorted(parts))}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"figure": f, "value": v, "conditions": c} for f, v, c in summary]
    meta = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load_average": os.getloadavg()}
    out.write_text(json.dumps({"config": CONFIG, **meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
