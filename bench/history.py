"""History indexing against ccusage on the same generated trees, in one run.

Generates Claude Code and Codex trees shaped like a heavy user's (thousands
of mostly small sessions per GB, streamed duplicates, forks and sub-agents
as the CLIs write them, rare lines of several MB) under /tmp, then times
whole processes side by side on a warm page cache, tether byte-compiled as
an installed package is (``tether usage`` is timed compiling its modules
too, as PYTHONDONTWRITEBYTECODE makes every process do): ``tether index`` cold
(with transcripts unless --no-transcripts) and as a warm rescan, ``tether
usage daily --json``, and ccusage (pinned, from the npm registry) ``daily``
and ``session`` with ``--offline --json``; prints seconds, CPU seconds,
MB/s, peak RSS (of the whole process tree) and the ratios, with the load
average (on a shared machine, compare CPU seconds), and what SQLite alone
takes to store the indexed transcript text (a floor for the cold index with
transcripts, whatever reads the logs). Then compares
tokens per agent and per day with ccusage and the generator's ground truth,
cost per model and per day with ccusage, and lists the sessions where
ccusage differs from the truth. Trees are deleted afterwards.

    .venv/bin/python bench/history.py                  # 200 MB and 1 GB trees
    .venv/bin/python bench/history.py --sizes 50 --keep
    .venv/bin/python bench/history.py --sizes 1000 --single   # one 1 GB rollout

Targets (issue 13): cold index with transcripts at least as fast as
ccusage's daily report; warm rescan under 0.3 s per GB; ``tether usage`` at
least 10x faster than ccusage; peak RSS under 250 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tether as tether_package
from tether.history.synthetic import Expected, codex_session, write_codex, write_tree

CCUSAGE_VERSION = "20.0.24"
KINDS = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
CC_KINDS = ("inputTokens", "cacheReadTokens", "cacheCreationTokens", "outputTokens")
BIG_LINE_BYTES = 4 * 1024 * 1024


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    stdout: str
    cpu_seconds: float  # user + system of the process and the children it waited for


def _tree_rss_kb(pid: int) -> int:
    """Resident KiB of ``pid`` and all its descendants, found through each task's
    ``children`` file: walking all of /proc cost ~5 ms of CPU per sample, every 20 ms,
    beside a measured process of 40 ms on a machine of 2 cores."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    stack.extend(int(child) for child in handle.read().split())
            with open(f"/proc/{current}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def run(argv: list[str], env: dict[str, str]) -> Run:
    """Run a command, sampling the RSS of its process tree every 20 ms.

    Its CPU time is measured too: on a machine other work shares, wall time
    varies several-fold from run to run, CPU time much less.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
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
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Run(elapsed, peak / 1024, stdout.decode(), cpu)


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def storage_floor(ledger: Path, scratch: Path) -> tuple[int, int, float, float]:
    """What storing the indexed transcript text alone costs SQLite: the ledger's event rows
    copied by one INSERT … SELECT per 5,000 rows into a new file with the same table and
    indexes, then the full-text index filled the same way, each batch committed (as the
    indexer does). No Python runs per row, so this is a floor for any indexer that keeps the
    text searchable. Returns events, characters of text, seconds and CPU seconds."""
    scratch.unlink(missing_ok=True)
    conn = sqlite3.connect(scratch, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("ATTACH DATABASE ? AS ledger", (f"file:{ledger}?mode=ro",))
    schema = conn.execute(
        "SELECT sql FROM ledger.sqlite_master WHERE tbl_name IN ('events', 'events_fts') "
        "AND type IN ('table', 'index') AND sql IS NOT NULL AND name NOT LIKE 'events_fts_%'"
    ).fetchall()
    for (sql,) in schema:  # its sessions are not copied: foreign keys are not enforced here
        conn.execute(sql)
    count, chars, low, high = conn.execute(
        "SELECT count(*), coalesce(sum(length(preview)), 0), min(id), max(id) FROM ledger.events"
    ).fetchone()
    started, cpu = time.perf_counter(), _cpu_self()
    steps = [
        "INSERT INTO main.events SELECT * FROM ledger.events WHERE id BETWEEN ? AND ?",
        "INSERT INTO main.events_fts (rowid, preview) SELECT id, preview FROM main.events "
        "WHERE kind = 'message' AND id BETWEEN ? AND ?",
    ]
    for statement in steps:
        for first in range(low or 0, (high or 0) + 1, 5_000):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(statement, (first, first + 4_999))
            conn.execute("COMMIT")
    seconds, cpu_seconds = time.perf_counter() - started, _cpu_self() - cpu
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    return count, chars, seconds, cpu_seconds


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


def _cc_models(data: dict[str, Any]) -> dict[str, Counter[str]]:
    """Tokens and cost per model, summed over ccusage's daily model breakdowns."""
    models: dict[str, Counter[str]] = {}
    for row in data["daily"]:
        for item in row.get("modelBreakdowns", []):
            counter = models.setdefault(item["modelName"], Counter())
            counter.update({k: item[c] for k, c in zip(KINDS, CC_KINDS, strict=True)})
            counter["cost_micro"] += round(item["cost"] * 1e6)
    return models


def _rows(rows: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """tether's --json report rows, keyed, with the cost in micro-dollars (None: unpriced)."""
    out = {}
    for r in rows:
        counter = Counter({k: r[k] for k in KINDS})
        counter["cost_micro"] = round((r["cost"] or 0) * 1e6)
        counter["unpriced_tokens"] = r["unpriced_tokens"]
        out[r["key"]] = counter
    return out


def _tokens(days: dict[str, Counter[str]]) -> dict[str, Counter[str]]:
    return {k: Counter({kind: c[kind] for kind in KINDS}) for k, c in days.items()}


def _agent_of(model: str) -> str:
    return "claude" if model.startswith("claude") else "codex"


def _by_agent(models: dict[str, Counter[str]]) -> dict[str, Counter[str]]:
    agents: dict[str, Counter[str]] = {}
    for model, counter in models.items():
        agents.setdefault(_agent_of(model), Counter()).update(counter)
    return agents


def _truth_agents(expected: Expected) -> dict[str, Counter[str]]:
    agents: dict[str, Counter[str]] = {}
    for (agent, _), counter in expected.sessions.items():
        agents.setdefault(agent, Counter()).update({k: counter[k] for k in KINDS})
    return agents


def _truth_daily(expected: Expected) -> dict[str, Counter[str]]:
    return {d: Counter({k: c[k] for k in KINDS}) for d, c in expected.days.items()}


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


def single_rollout(base: Path, size_mb: int) -> Expected:
    """One Codex rollout of about ``size_mb``: memory must not grow with a file."""
    target, turns = size_mb * 1_000_000, max(1, size_mb * 1_000_000 // 30_000)
    for _ in range(5):  # rare outputs of MBs make a turn's size vary: scale until within 10%
        expected = Expected()
        rng = random.Random(size_mb)
        session = codex_session(rng, expected, 1767225600.0, turns, big_bytes=BIG_LINE_BYTES)
        size = sum(len(line) for line in session.lines)
        if abs(size - target) <= target // 10:
            break
        turns = max(1, round(turns * target / size))
    expected.bytes = write_codex(base / "codex", session).stat().st_size
    (base / "claude" / "projects").mkdir(parents=True)  # ccusage refuses a missing Claude dir
    return expected


def _median(argv: list[str], env: dict[str, str], times: int = 3) -> Run:
    runs = sorted((run(argv, env) for _ in range(times)), key=lambda r: r.seconds)
    return runs[len(runs) // 2]


def _bench(base: Path, size_mb: int, ccusage: Path, transcripts: bool, single: bool) -> None:
    started = time.perf_counter()
    if single:
        expected = single_rollout(base, size_mb)
    else:
        expected = write_tree(
            base / "claude",
            base / "codex",
            size_mb * 1_000_000,
            seed=size_mb,
            big_bytes=BIG_LINE_BYTES,
        )
    mb = expected.bytes / 1e6
    files = sum(1 for _ in base.rglob("*.jsonl"))
    shape = "one file" if single else "tree"
    print(
        f"\n== {shape} {mb:.0f} MB: {files} files, {len(expected.sessions)} sessions "
        f"(generated in {time.perf_counter() - started:.1f} s) =="
    )
    env = {
        **os.environ,
        "HOME": str(base),
        "CLAUDE_CONFIG_DIR": str(base / "claude"),
        "CODEX_HOME": str(base / "codex"),
        "XDG_DATA_HOME": str(base / "data"),
        "TETHER_HOME": str(base / "tether"),
        "TETHER_HISTORY_IMPORT_TRANSCRIPTS": "1" if transcripts else "0",
        "TZ": "UTC",
        "PYTHONPYCACHEPREFIX": str(base / "pycache"),
    }
    env.pop("TETHER_DATABASE_URL", None)
    # tether byte-compiled, as an installed package is (pip compiles at install): with
    # PYTHONDONTWRITEBYTECODE set, every process compiled tether's modules again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    package = str(Path(tether_package.__file__).parent)
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], env=env, check=True)
    compiling = {**env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(base / "none")}
    subprocess.run(["sync"], check=False)
    cc_argv = [str(ccusage), "daily", "--offline", "--json", "--timezone", "UTC"]
    run(cc_argv, env)  # warms the page cache for both
    tether = [sys.executable, "-m", "tether.cli.main"]
    load_before = os.getloadavg()[0]
    cold = run([*tether, "index", "--json"], env)
    cold_out = json.loads(cold.stdout)
    warm = run([*tether, "index", "--json"], env)
    report = _median([*tether, "usage", "daily", "--json"], env, times=9)
    report_compiling = _median([*tether, "usage", "daily", "--json"], compiling, times=9)
    interpreter = _median([sys.executable, "-c", "pass"], env, times=9)
    by_model = run([*tether, "usage", "model", "--json"], env)
    by_session = run([*tether, "usage", "session", "--json"], env)
    cc = _median(cc_argv, env, times=5)
    cc_session = run([str(ccusage), "session", "--offline", "--json", "--timezone", "UTC"], env)

    what = "with transcripts" if transcripts else "usage only"
    print(
        f"{cold_out['entries']} usage entries, {cold_out['events']} transcript events, "
        f"{cold_out['sessions_created']} external sessions"
    )
    print(f"load average (1 min) before the runs {load_before:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"{'whole processes':34}{'seconds':>9}{'cpu s':>8}{'MB/s':>9}{'peak RSS MB':>13}")
    for name, measured in (
        (f"tether index, cold ({what})", cold),
        ("tether index, warm rescan", warm),
        ("tether usage daily --json (median)", report),
        ("  the same, compiling tether", report_compiling),
        ("  python -c pass (median)", interpreter),
        ("ccusage daily --json (median)", cc),
        ("ccusage session --json", cc_session),
    ):
        print(
            f"{name:34}{measured.seconds:9.3f}{measured.cpu_seconds:8.2f}"
            f"{mb / measured.seconds:9.0f}{measured.peak_rss_mb:13.0f}"
        )
    print(
        f"ratios: ccusage daily / tether cold index = {cc.seconds / cold.seconds:.2f}x "
        f"(cpu {cc.cpu_seconds / cold.cpu_seconds:.2f}x); ccusage daily / tether usage = "
        f"{cc.seconds / report.seconds:.1f}x (cpu {cc.cpu_seconds / report.cpu_seconds:.1f}x); "
        f"warm rescan {warm.seconds / (mb / 1000):.2f} s per GB"
    )
    if transcripts:
        ledger = base / "tether" / "tether.db"
        events, chars, seconds, cpu = storage_floor(ledger, base / "floor.db")
        print(
            f"storing the transcript text alone ({events} events, {chars / 1e6:.0f} M characters, "
            f"full-text index): {seconds:.2f} s, {cpu:.2f} cpu s = "
            f"{cpu / cc.cpu_seconds:.1f}x ccusage daily's cpu"
        )
    _compare(
        expected, json.loads(report.stdout), json.loads(by_model.stdout), json.loads(cc.stdout)
    )
    _compare_sessions(
        _tether_sessions(base / "tether" / "tether.db", json.loads(by_session.stdout)),
        _cc_sessions(json.loads(cc_session.stdout)),
        expected,
    )


def _compare(
    expected: Expected,
    daily: list[dict[str, Any]],
    models: list[dict[str, Any]],
    cc: dict[str, Any],
) -> None:
    """Tokens per agent and per day against the truth and ccusage; cost per model and day."""
    t_days, cc_days, truth_days = _rows(daily), _cc_daily(cc), _truth_daily(expected)
    t_models, cc_models = _rows(models), _cc_models(cc)
    t_agents, cc_agents = _tokens(_by_agent(t_models)), _tokens(_by_agent(cc_models))
    truth_agents = _truth_agents(expected)
    print(
        f"tokens per day: tether=truth {_tokens(t_days) == truth_days}, "
        f"ccusage=truth {cc_days == truth_days}; per agent: tether=truth "
        f"{t_agents == truth_agents}, ccusage=truth {cc_agents == truth_agents}"
    )
    for agent in sorted(truth_agents):
        truth = truth_agents[agent]
        for name, found in (("tether", t_agents), ("ccusage", cc_agents)):
            if found.get(agent) != truth:
                diff = {k: found.get(agent, Counter())[k] - truth[k] for k in KINDS}
                print(f"  {agent}: {name} - truth = {diff}")
    print(f"{'cost per model':28}{'tether USD':>12}{'ccusage USD':>13}{'diff':>8}  unpriced tokens")
    for model in sorted(set(t_models) | set(cc_models)):
        ours, theirs = t_models.get(model, Counter()), cc_models.get(model, Counter())
        diff = (ours["cost_micro"] - theirs["cost_micro"]) / max(theirs["cost_micro"], 1)
        print(
            f"  {model:26}{ours['cost_micro'] / 1e6:12.2f}{theirs['cost_micro'] / 1e6:13.2f}"
            f"{diff:8.1%}  {ours['unpriced_tokens']}"
        )
    cc_day_cost = {row["period"]: round(row["totalCost"] * 1e6) for row in cc["daily"]}
    off = {
        day: (c["cost_micro"], cc_day_cost.get(day, 0))
        for day, c in t_days.items()
        if abs(c["cost_micro"] - cc_day_cost.get(day, 0)) > max(cc_day_cost.get(day, 0), 1) * 1e-3
    }
    total_t = sum(c["cost_micro"] for c in t_days.values()) / 1e6
    total_cc = sum(cc_day_cost.values()) / 1e6
    print(
        f"cost per day: {len(t_days) - len(off)} of {len(t_days)} days within 0.1% of ccusage; "
        f"total tether {total_t:.2f} USD, ccusage {total_cc:.2f} USD"
    )
    for day, (ours_micro, theirs_micro) in sorted(off.items())[:5]:
        print(f"  {day}: tether {ours_micro / 1e6:.4f}, ccusage {theirs_micro / 1e6:.4f}")


def _tether_sessions(ledger: Path, rows: list[dict[str, Any]]) -> dict[str, int]:
    """tether's per-session tokens by native id (the report is keyed by tether's ids)."""
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as conn:
        native = dict(conn.execute("SELECT id, native_id FROM sessions").fetchall())
    return {native[row["key"]]: sum(row[k] for k in KINDS) for row in rows}


def _compare_sessions(ours: dict[str, int], cc: dict[str, int], expected: Expected) -> None:
    """Per-session totals: where tether and ccusage differ from the ground truth."""
    truth = {native: sum(c[k] for k in KINDS) for (_, native), c in expected.sessions.items()}
    for name, found in (("tether", ours), ("ccusage", cc)):
        differing = {
            native: (total, found.get(native, 0))
            for native, total in truth.items()
            if found.get(native, 0) != total
        }
        print(
            f"sessions: {len(truth)} in the tree, {len(found)} in {name}'s report, "
            f"which differs from the truth on {len(differing)}"
        )
        for native, (total, theirs) in sorted(differing.items())[:8]:
            print(f"  {native}: truth {total}, {name} {theirs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="200,1000", help="tree sizes in MB, comma-separated")
    parser.add_argument("--ccusage-prefix", default="/tmp/ccusage-cache", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the generated trees")
    parser.add_argument(
        "--no-transcripts", action="store_true", help="index usage only (no transcripts)"
    )
    parser.add_argument("--single", action="store_true", help="one Codex file instead of a tree")
    args = parser.parse_args()
    ccusage = install_ccusage(args.ccusage_prefix)
    print(f"ccusage {CCUSAGE_VERSION}: {ccusage}; cpus: {os.cpu_count()}")
    for size in (int(s) for s in args.sizes.split(",")):
        bench_tree(size, ccusage, args.keep, not args.no_transcripts, args.single)


if __name__ == "__main__":
    main()
