"""bench/soak.py, small: sessions' turns through daemon SIGKILLs, none lost, doubled or stuck."""

import json
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def test_a_short_soak_loses_nothing_and_runs_nothing_twice() -> None:
    # Each agent run takes 1 s and each lane has two: the first kill (at most
    # 1.5 s after the daemon serves) always lands while turns are in flight.
    args = ["--sessions", "3", "--turns", "2", "--kill-every", "1", "--agent-sleep", "1", "--json"]
    done = subprocess.run(
        [sys.executable, str(SOAK), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.stdout, done.stderr
    report = json.loads(done.stdout)
    assert report["kills"] >= 1
    assert (report["lost"], report["run_twice"], report["stuck"], report["wrong_thread"]) == (
        [],
        [],
        [],
        [],
    ), report["reasons"]
    assert report["clean"] and done.returncode == 0
