"""Browser fixtures: a real ``tether serve`` daemon and headless Debian chromium.

Chromium is a hard requirement of this directory: when it is missing the
tests fail with the command that installs it, they never skip (a skipped
browser suite looks green in CI while testing nothing).
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from tests.browser.chromium import CHROMIUM, FLAGS, HEADLESS_FLAGS, INSTALL_HINT
from tests.support import daemon_env

from tether.config import load
from tether.ledger.store import Ledger, open_ledger
from tether.server import daemon

DAEMON_START_TIMEOUT_S = 180.0
CHROMIUM_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Served:
    """A running daemon: its home, its URL and the same ledger opened in-process."""

    home: Path
    url: str
    ledger: Ledger


class Chromium:
    """Runs one headless chromium per call, each with a fresh profile directory."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.runs = 0

    def run(self, url: str, *args: str) -> subprocess.CompletedProcess[str]:
        self.runs += 1
        profile = self.workdir / f"profile-{self.runs}"
        argv = [self.binary, *HEADLESS_FLAGS, f"--user-data-dir={profile}", *args, url]
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"chromium did not finish within {CHROMIUM_TIMEOUT_S:.0f} s: {argv}\n{exc}")
        if result.returncode != 0:
            pytest.fail(
                f"chromium exited with {result.returncode}: {argv}\n"
                f"stderr:\n{result.stderr[-4000:]}"
            )
        return result

    def dump_dom(self, url: str) -> str:
        return self.run(url, "--dump-dom").stdout

    def screenshot(self, url: str, path: Path, width: int = 1280, height: int = 800) -> Path:
        self.run(url, f"--screenshot={path}", f"--window-size={width},{height}")
        if not path.is_file():
            pytest.fail(f"chromium exited cleanly but wrote no screenshot at {path}")
        return path


def chromium_binary() -> str:
    """The chromium executable, or a failed test that says how to install it."""
    found = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if found is None:
        pytest.fail(
            f"chromium is not installed ({CHROMIUM} not found, none on PATH); the browser "
            f"tests need Debian's chromium: `{INSTALL_HINT}` (make test does this for CI)",
            pytrace=False,
        )
    return found


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's chromium driven by Playwright (headless), one per test."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_binary(), args=list(FLAGS))
        yield launched
        launched.close()


@pytest.fixture
def chromium(tmp_path: Path) -> Chromium:
    return Chromium(chromium_binary(), tmp_path / "chromium")


def _daemon_env(home: Path) -> dict[str, str]:
    return daemon_env(home)


def _wait_for_daemon(proc: subprocess.Popen[str], home: Path) -> daemon.DaemonInfo:
    """Poll daemon.json (and the lock behind it) until the daemon is serving."""
    deadline = time.monotonic() + DAEMON_START_TIMEOUT_S
    while time.monotonic() < deadline:
        info = daemon.running(home)
        if info is not None:
            return info
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"tether serve exited with {proc.returncode} before serving:\n{err}")
        time.sleep(0.05)
    pytest.fail(f"tether serve wrote no {daemon.INFO_FILE} in {home} within the time limit")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """``tether serve --port 0`` in a subprocess with its own TETHER_HOME."""
    home = tmp_path / "home"
    home.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tether.cli.main", "serve", "--port", "0"],
        env=_daemon_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        info = _wait_for_daemon(proc, home)
        ledger = open_ledger(load(_daemon_env(home)))
        try:
            yield Served(home, info.url, ledger)
        finally:
            ledger.close()
    finally:
        _stop(proc)
