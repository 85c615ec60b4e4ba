"""History indexing against ccusage on the same generated trees, in one run.

Generates realistic Claude Code and Codex trees (streamed duplicates, forks,
subagents, multi-MB lines) under /tmp, then per tree: tether cold index
(usage; transcripts timed apart), tether warm rescan, a usage report from
the ledger, and ccusage (pinned, from the npm registry) ``daily`` and
``session`` with ``--offline --json``. Prints MB/s, peak RSS (the process
tree, pool workers included) and the ratios; checks token totals and daily
figures against ccusage and the generator's ground truth, and lists the
per-session differences with their reason. Trees are deleted afterwards.

    .venv/bin/python bench/history.py                  # 200 MB and 1 GB trees
    .venv/bin/python bench/history.py --sizes 50 --keep
    .venv/bin/python bench/history.py --sizes 1000 --single   # one 1 GB rollout

Targets: cold index of 1 GB at least as fast as ccusage's daily report;
report on unchanged data >= 20x faster than ccusage; warm rescan of 1 GB
< 0.3 s; peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.history.synthetic import Expected, codex_session, write_codex, write_tree

CCUSAGE_VERSION = "20.0.24"
KINDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
CC_KINDS = ("inputTokens", "cacheReadTokens", "cacheCreationTokens", "outputTokens")
BIG_LINE_BYTES = 4 * 1024 * 1024

CHILD = r"""
import json, sys, time
from tether.config import load
from tether.ledger.store import open_ledger
from tether.history.indexer import Indexer
from tether.ledger import history as h
mode = sys.argv[1]
config = load()
ledger = open_ledger(config)
indexer = Indexer(config, ledger)
out = {}
if mode == "transcripts":
    t = time.perf_counter(); out["events"] = indexer.import_transcripts()
    out["seconds"] = time.perf_counter() - t
else:
    t = time.perf_counter(); report = indexer.run_once(); out["seconds"] = time.perf_counter() - t
    out["bytes_read"] = report.bytes_read; out["entries"] = report.entries
    out["errors"] = report.errors[:5]; out["bad"] = report.bad_lines
if mode == "warm":
    best = {}
    for by in ("daily", "session"):
        for _ in range(5):
            t = time.perf_counter()
            with ledger.db.read() as conn:
                rows = h.usage_report(conn, by)
            best[by] = min(best.get(by, 1e9), time.perf_counter() - t)
        out[by] = rows
    out["report_seconds"] = best
print(json.dumps(out))
"""


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    stdout: str


def _tree_rss_kb(pid: int) -> int:
    """Resident KiB of ``pid`` and all its descendants."""
    total = 0
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        children.setdefault(parent, []).append(int(entry))
    stack = [pid]
    while stack:
        current = stack.pop()
        stack.extend(children.get(current, []))
        try:
            with open(f"/proc/{current}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def run(argv: list[str], env: dict[str, str]) -> Run:
    """Run a command, sampling the RSS of its process tree every 20 ms."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(process.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({process.returncode}): {stderr.decode()[-2000:]}")
    return Run(elapsed, peak / 1024, stdout.decode())


def install_ccusage(prefix: Path) -> Path:
    binary = prefix / "node_modules" / ".bin" / "ccusage"
    if not binary.exists():
        subprocess.run(
            ["npm", "install", "--prefix", str(prefix), f"ccusage@{CCUSAGE_VERSION}"],
            check=True,
            capture_output=True,
        )
    return binary


def _cc_daily(data: dict[str, Any]) -> dict[str, Counter[str]]:
    return {
        row["period"]: Counter({k: row[c] for k, c in zip(KINDS, CC_KINDS, strict=True)})
        for row in data["daily"]
    }


def _tether_daily(rows: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    return {r["key"]: Counter({k: r[k] for k in KINDS}) for r in rows}


def _truth_daily(expected: Expected) -> dict[str, Counter[str]]:
    return {d: Counter({k: c[k] for k in KINDS}) for d, c in expected.days.items()}


def _sum(days: dict[str, Counter[str]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for counter in days.values():
        total.update(counter)
    return total


def _cc_sessions(data: dict[str, Any]) -> dict[str, int]:
    rows = data.get("sessions") or data.get("session") or []
    out: dict[str, int] = {}
    for row in rows:
        key = str(row.get("sessionId") or row.get("session") or row.get("period"))
        key = key.removesuffix(".jsonl").rsplit("/", 1)[-1]
        out[key[-36:] if row.get("agent") == "codex" else key] = sum(
            row.get(c, 0) for c in CC_KINDS
        )
    return out


def bench_tree(size_mb: int, ccusage: Path, keep: bool, transcripts: bool, single: bool) -> None:
    base = Path(tempfile.mkdtemp(prefix=f"tether-bench-{size_mb}-", dir="/tmp"))
    try:
        _bench(base, size_mb, ccusage, transcripts, single)
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)


def _single_file(base: Path, size_mb: int) -> Expected:
    """One Codex rollout of about ``size_mb``: memory must not grow with a file."""
    expected = Expected()
    turns = max(1, size_mb * 1_000_000 // 330_000)
    rng = random.Random(size_mb)
    session = codex_session(rng, expected, 1767225600.0, turns, big_bytes=BIG_LINE_BYTES)
    expected.bytes = write_codex(base / "codex", session).stat().st_size
    (base / "claude" / "projects").mkdir(parents=True)  # ccusage refuses a missing Claude dir
    return expected


def _bench(base: Path, size_mb: int, ccusage: Path, transcripts: bool, single: bool) -> None:
    started = time.perf_counter()
    if single:
        expected = _single_file(base, size_mb)
    else:
        expected = write_tree(
            base / "claude",
            base / "codex",
            size_mb * 1_000_000,
            seed=size_mb,
            big_bytes=BIG_LINE_BYTES,
        )
    mb = expected.bytes / 1e6
    shape = "one file" if single else "tree"
    print(f"\n== {shape} {mb:.0f} MB (generated in {time.perf_counter() - started:.1f} s) ==")
    env = {
        **os.environ,
        "HOME": str(base),
        "CLAUDE_CONFIG_DIR": str(base / "claude"),
        "CODEX_HOME": str(base / "codex"),
        "XDG_DATA_HOME": str(base / "data"),
        "TETHER_HOME": str(base / "tether"),
        "TETHER_HISTORY_IMPORT_TRANSCRIPTS": "0",
        "TZ": "UTC",
    }
    env.pop("TETHER_DATABASE_URL", None)
    subprocess.run(["sync"], check=False)
    cold = run([sys.executable, "-c", CHILD, "cold"], env)
    cold_out = json.loads(cold.stdout)
    warm = run([sys.executable, "-c", CHILD, "warm"], env)
    warm_out = json.loads(warm.stdout)
    cc = run([str(ccusage), "daily", "--offline", "--json", "--timezone", "UTC"], env)
    cc_session = run([str(ccusage), "session", "--offline", "--json", "--timezone", "UTC"], env)
    cc_daily = _cc_daily(json.loads(cc.stdout))

    report_s = warm_out["report_seconds"]["daily"]
    print(f"{'':28}{'seconds':>10}{'MB/s':>10}{'peak RSS MB':>13}")
    rows = [
        ("tether cold index (usage)", cold_out["seconds"], cold.peak_rss_mb),
        ("tether process, cold", cold.seconds, cold.peak_rss_mb),
        ("tether warm rescan", warm_out["seconds"], warm.peak_rss_mb),
        ("tether daily report (ledger)", report_s, None),
        ("ccusage daily", cc.seconds, cc.peak_rss_mb),
        ("ccusage session", cc_session.seconds, cc_session.peak_rss_mb),
    ]
    for name, seconds, rss in rows:
        rss_text = f"{rss:13.0f}" if rss is not None else f"{'':13}"
        print(f"{name:28}{seconds:10.3f}{mb / seconds:10.0f}{rss_text}")
    if transcripts:
        env_t = dict(env, TETHER_HISTORY_IMPORT_TRANSCRIPTS="1")
        imported = run([sys.executable, "-c", CHILD, "transcripts"], env_t)
        out = json.loads(imported.stdout)
        print(
            f"{'tether transcript import':28}{out['seconds']:10.3f}{mb / out['seconds']:10.0f}"
            f"{imported.peak_rss_mb:13.0f}   ({out['events']} events)"
        )
    print(
        f"ratios: ccusage daily / tether cold index = {cc.seconds / cold_out['seconds']:.2f}x; "
        f"ccusage daily / tether report = {cc.seconds / report_s:.0f}x; "
        f"warm rescan {warm_out['seconds'] * 1000:.0f} ms"
    )
    tether_daily = _tether_daily(warm_out["daily"])
    truth = _truth_daily(expected)
    same_totals = (_sum(tether_daily) == _sum(cc_daily), _sum(tether_daily) == _sum(truth))
    print(
        f"totals equal: tether=ccusage {same_totals[0]}, tether=truth {same_totals[1]}; "
        f"daily equal: tether=ccusage {tether_daily == cc_daily}, "
        f"tether=truth {tether_daily == truth}"
    )
    tether_cost = sum(r["cost"] for r in warm_out["daily"])
    cc_cost = json.loads(cc.stdout)["totals"]["totalCost"]
    print(f"cost: tether {tether_cost:.2f} USD, ccusage {cc_cost:.2f} USD")
    if _sum(tether_daily) != _sum(cc_daily):
        print(f"  tether  {dict(_sum(tether_daily))}\n  ccusage {dict(_sum(cc_daily))}")
    _compare_sessions(warm_out["session"], json.loads(cc_session.stdout), expected, base)


def _compare_sessions(
    tether_rows: list[dict[str, Any]], cc: dict[str, Any], expected: Expected, base: Path
) -> None:
    """Per-session totals: tether vs ground truth, and where ccusage differs."""
    del base
    truth = {native: sum(c[k] for k in KINDS) for (_, native), c in expected.sessions.items()}
    cc_sessions = _cc_sessions(cc)
    differing = {
        native: (total, cc_sessions.get(native, 0))
        for native, total in truth.items()
        if cc_sessions.get(native, 0) != total
    }
    print(
        f"sessions: {len(truth)} in the tree, {len(tether_rows)} in tether's report, "
        f"{len(cc_sessions)} in ccusage's; ccusage differs from the truth on {len(differing)}"
    )
    for native, (total, theirs) in sorted(differing.items())[:8]:
        print(f"  {native}: truth {total}, ccusage {theirs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="200,1000", help="tree sizes in MB, comma-separated")
    parser.add_argument("--ccusage-prefix", default="/tmp/ccusage-cache", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the generated trees")
    parser.add_argument("--transcripts", action="store_true", help="also time transcript import")
    parser.add_argument("--single", action="store_true", help="one Codex file instead of a tree")
    args = parser.parse_args()
    ccusage = install_ccusage(args.ccusage_prefix)
    print(f"ccusage {CCUSAGE_VERSION}: {ccusage}; cpus: {os.cpu_count()}")
    for size in (int(s) for s in args.sizes.split(",")):
        bench_tree(size, ccusage, args.keep, args.transcripts, args.single)


if __name__ == "__main__":
    main()
