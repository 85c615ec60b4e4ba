"""A session whose transcript is 1 GB: its first page on the server, and older pages in chromium.

Writes one Codex rollout of ``--mb`` (bench/history.py's single-rollout
generator), indexes it with ``tether index`` and adopts the session with
``tether adopt``, then starts the real daemon (its indexer off) and asks for
the session page: the first request's time and the median of the next
``--reps`` (loopback, keep-alive, so the time is the server's plus a
client's fraction of a millisecond), and the daemon's RSS before and after,
against ``/api/health`` (the floor) in the same run. Then opens the page in
headless Debian chromium (Playwright), scrolls the transcript to its top
three times so the page fetches three older pages, and reads the tab's
memory over CDP (``Performance.getMetrics``: JS heap and DOM nodes) after
the load and after each older page.

    .venv/bin/python bench/transcript.py              # 1 GB
    .venv/bin/python bench/transcript.py --mb 100

Targets: first page under 100 ms and under 50 MB of extra daemon RSS; the tab
stays under 200 MB through three older pages.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the sibling benches, from the checkout
    sys.path.insert(0, str(REPO))

from bench.api import start_daemon  # noqa: E402
from bench.history import single_rollout  # noqa: E402
from bench.stream import rss_mb  # noqa: E402

CHROMIUM = os.environ.get("TETHER_CHROMIUM", "/usr/bin/chromium")
FIRST_PAGE_MS = 100.0
EXTRA_RSS_MB = 50.0
TAB_MB = 200.0
OLDER_PAGES = 3
WAIT_MS = 180_000


def tether(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tether.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"tether {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def timed_get(http: httpx.Client, url: str) -> float:
    started = time.perf_counter()
    response = http.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"GET {url}: {response.status_code} {response.text[:200]}")
    return elapsed


def server_side(base: str, pid: int, session_id: str, reps: int) -> None:
    with httpx.Client(base_url=base, timeout=120) as http:
        floor = [timed_get(http, "/api/health") for _ in range(reps)]
        before = rss_mb(pid)
        first = timed_get(http, f"/sessions/{session_id}")
        after_first = rss_mb(pid)
        again = [timed_get(http, f"/sessions/{session_id}") for _ in range(reps)]
        api = [timed_get(http, f"/api/sessions/{session_id}/events?limit=100") for _ in range(reps)]
        after = rss_mb(pid)
    median = statistics.median
    print(f"{'request':38} {'ms':>8} {'x floor':>8}")
    print(f"{'/api/health (floor), median':38} {median(floor):8.1f} {1:8.2f}")
    for name, ms in (
        ("/sessions/<id>, first request", first),
        (f"/sessions/<id>, median of {reps}", median(again)),
        (f"/api/sessions/<id>/events, median of {reps}", median(api)),
    ):
        print(f"{name:38} {ms:8.1f} {ms / median(floor):8.2f}")
    print(
        f"daemon RSS: {before:.1f} MB before the first page, {after_first:.1f} MB after it "
        f"(+{after_first - before:.1f}), {after:.1f} MB after {2 * reps} more "
        f"(+{after - before:.1f})"
    )
    verdict = first < FIRST_PAGE_MS and after - before < EXTRA_RSS_MB
    print(
        f"target first page < {FIRST_PAGE_MS:.0f} ms, extra RSS < {EXTRA_RSS_MB:.0f} MB: "
        f"{'met' if verdict else 'MISSED'}"
    )


def renderers() -> dict[int, float]:
    """Chromium renderer processes (a tab is one) and their RSS in MB."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # a zygote's child rewrites its title: the flags are one string, not argv
            if b"--type=renderer" in (entry / "cmdline").read_bytes():
                found[int(entry.name)] = rss_mb(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def in_chromium(base: str, session_id: str) -> None:
    from playwright.sync_api import sync_playwright

    others = set(renderers())  # renderers of any other chromium on the machine

    flags = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        page = browser.new_page()
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")

        def memory() -> tuple[float, float, int, float]:
            """JS heap used and total, DOM nodes, and the tab's renderer RSS."""
            cdp.send("HeapProfiler.collectGarbage")
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            mb = 1024 * 1024
            tab = max((v for k, v in renderers().items() if k not in others), default=0.0)
            used, total = metrics["JSHeapUsedSize"] / mb, metrics["JSHeapTotalSize"] / mb
            return used, total, int(metrics["Nodes"]), tab

        page.goto(f"{base}/sessions/{session_id}", timeout=WAIT_MS)
        page.wait_for_selector("#transcript [data-event]", timeout=WAIT_MS)
        count = "() => document.querySelectorAll('#transcript [data-event]').length"
        rows = [("loaded", page.evaluate(count), *memory())]
        for n in range(1, OLDER_PAGES + 1):
            shown = page.evaluate(count)
            page.evaluate("() => { document.getElementById('transcript').scrollTop = 0; }")
            page.wait_for_function(f"() => ({count[6:]}) > {shown}", timeout=WAIT_MS)
            rows.append((f"older page {n}", page.evaluate(count), *memory()))
        browser.close()
    print(
        f"{'tab':14} {'events':>7} {'JS heap used MB':>16} {'JS heap total MB':>17} "
        f"{'nodes':>7} {'renderer RSS MB':>16}"
    )
    for name, events, used, total, nodes, tab in rows:
        print(f"{name:14} {events:7d} {used:16.1f} {total:17.1f} {nodes:7d} {tab:16.1f}")
    peak = max(r[5] for r in rows)
    print(f"target tab (renderer RSS) < {TAB_MB:.0f} MB: {'met' if peak < TAB_MB else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=1000, help="size of the rollout")
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}")
    base = Path(tempfile.mkdtemp(prefix="tether-bench-transcript-", dir="/tmp"))
    try:
        started = time.perf_counter()
        expected = single_rollout(base, args.mb)
        took = time.perf_counter() - started
        print(f"wrote a {expected.bytes / 1e6:.0f} MB rollout in {took:.0f} s")
        home = base / "tether"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TETHER_")},
            "HOME": str(base),
            "CODEX_HOME": str(base / "codex"),
            "CLAUDE_CONFIG_DIR": str(base / "claude"),
            "XDG_DATA_HOME": str(base / "data"),
            "TETHER_HOME": str(home),
        }
        started = time.perf_counter()
        tether(env, "index")
        print(f"indexed in {time.perf_counter() - started:.0f} s")
        listed = json.loads(tether(env, "ls", "--json"))
        items = listed["items"] if isinstance(listed, dict) else listed
        (external,) = [s for s in items if s.get("origin") == "external"]
        adopted = json.loads(tether(env, "adopt", external["id"], "--json"))
        session_id = adopted["id"]
        os.environ.update(HOME=env["HOME"], CODEX_HOME=env["CODEX_HOME"])
        proc, url = start_daemon(home)
        try:
            with httpx.Client(base_url=url, timeout=120) as http:
                total = http.get(f"/api/sessions/{session_id}").json()
            print(f"session {session_id}: {total.get('title') or ''!s:.40}")
            server_side(url, proc.pid, session_id, args.reps)
            in_chromium(url, session_id)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
