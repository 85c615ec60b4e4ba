"""Wall time of common ``tether`` commands against ``python -c pass``.

A command-line tool answers at once: the baseline is the interpreter's own
start-up, measured in the same run, so the ratio holds on a busy machine too.
One isolated home with a running daemon (a project, a few sessions; turns
stay queued, ``[engine] max_parallel = 0``, so no agent runs), then each
command is run ``--runs`` times, interleaved with the baseline, and the
median of each is printed with the ratio and the time over the baseline,
and the median CPU time (user + sys) of the process, which a busy machine
inflates less than wall time.

    .venv/bin/python bench/cli.py             # 15 runs of each
    .venv/bin/python bench/cli.py --runs 30

Targets (issue 8): --version and --help under 100 ms, ls / show / send under
250 ms with a running daemon.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TETHER = Path(sys.executable).parent / "tether"
COMMANDS: list[tuple[str, list[str]]] = [
    ("--version", ["--version"]),
    ("--help", ["--help"]),
    ("ls", ["ls"]),
    ("ls --json", ["ls", "--json"]),
    ("show", ["show", "bench-1"]),
    ("send", ["send", "bench-1", "one more thing"]),
    ("log", ["log", "bench-1"]),
]


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _home(root: Path) -> dict[str, str]:
    home, work = root / "home", root / "work"
    home.mkdir()
    work.mkdir()
    (home / "config.toml").write_text("[engine]\nmax_parallel = 0\n\n[server]\nport = 0\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(TETHER_HOME=str(home), TETHER_HISTORY_INDEX_IN_DAEMON="0")
    tether = [str(TETHER)]
    _run([*tether, "project", "add", str(work), "--name", "bench", "--agent", "codex"], env)
    for i in range(5):
        _run([*tether, "spawn", "--project", "bench", f"task {i}"], env)  # starts the daemon
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    if not TETHER.exists():
        raise SystemExit(f"{TETHER} is missing: run `make .venv/.installed-stamp` first")
    with tempfile.TemporaryDirectory(prefix="tether-bench-cli-") as tmp:
        env = _home(Path(tmp))
        try:
            baseline: list[tuple[float, float]] = []
            times: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in COMMANDS}
            for _ in range(args.runs):
                for name, argv in COMMANDS:
                    baseline.append(_run([sys.executable, "-c", "pass"], env))
                    times[name].append(_run([str(TETHER), *argv], env))
        finally:
            subprocess.run([str(TETHER), "daemon", "stop"], env=env, capture_output=True)
    base, base_cpu = (statistics.median(x) for x in zip(*baseline, strict=True))
    print(
        f"python -c pass: {base * 1000:.0f} ms wall, {base_cpu * 1000:.0f} ms cpu "
        f"(median of {len(baseline)})"
    )
    print(
        f"{'command':<12} {'wall ms':>8} {'x base':>7} {'over ms':>8} {'cpu ms':>7} {'x base':>7}"
    )
    for name, samples in times.items():
        wall, cpu = (statistics.median(x) for x in zip(*samples, strict=True))
        print(
            f"{name:<12} {wall * 1000:>8.0f} {wall / base:>7.1f} {(wall - base) * 1000:>8.0f} "
            f"{cpu * 1000:>7.0f} {cpu / base_cpu:>7.1f}"
        )


if __name__ == "__main__":
    main()
