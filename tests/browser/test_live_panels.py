"""Notifications, the audit panel and the thread gauge in headless chromium, kept current
by the live channel (no reload) from what the ledger commits.

The ledger is written directly, as another process on the same file would:
the daemon's feed and notifier follow the change log its triggers append.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from tests.browser.test_dashboard import Daemon
from tests.engine.conftest import write_config

from tether.config import load
from tether.domain.records import Session
from tether.domain.states import TurnState
from tether.ledger import findings, projects, sessions, threads, turns
from tether.ledger.store import open_ledger

if TYPE_CHECKING:  # fixtures come from tests/browser/conftest.py, which is not a package
    from conftest import Served

pytestmark = pytest.mark.browser
WAIT_MS = 120_000
expect.set_options(timeout=WAIT_MS)

# The real Notification, recording each one the page made (after the browser took it)
# and every permission request.
SPY = """
window.__notices = [];
window.__asked = 0;
const Real = window.Notification;
class Spy extends Real {
  constructor(title, options) {
    super(title, options);
    window.__notices.push({ title, ...options });
  }
}
Object.defineProperty(Spy, "permission", { get: () => Real.permission });
Spy.requestPermission = (...args) => {
  window.__asked += 1;
  return Real.requestPermission(...args);
};
window.Notification = Spy;
"""


def _session(served: Served, title: str = "fix the login form") -> Session:
    work = served.home.parent / "work"
    work.mkdir(exist_ok=True)
    with served.ledger.db.write() as conn:
        if projects.find_by_path(conn, work) is None:
            projects.add(conn, work, name="work")
        owner = projects.get(conn, "work")
        return sessions.create(conn, owner, "claude", str(work), title=title, model="gpt-5")


def _end(served: Served, session: Session, state: TurnState, reason: str | None = None) -> str:
    with served.ledger.db.write() as conn:
        turn, _ = turns.add(conn, session, "do the thing")
        turns.transition(conn, turn.id, TurnState.DISPATCHED, dispatched_at=time.time())
        turns.transition(conn, turn.id, TurnState.RUNNING, spawned_at=time.time())
        turns.transition(conn, turn.id, state, reason=reason, finished_at=time.time())
    return turn.id


def _page(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.evaluate("window.sameDocument = 'still here'")  # gone if the page reloads
    expect(page.locator("#live")).to_have_text("live")
    return page


def _shown(pages: list[Page]) -> list[dict[str, Any]]:
    return [n for page in pages for n in page.evaluate("window.__notices")]


def test_notifications_are_opt_in_and_each_shown_once_with_its_cue(
    served: Served, browser: Browser
) -> None:
    context = browser.new_context(permissions=["notifications"])
    context.add_init_script(SPY)
    first = _page(context, served.url + "/")
    second = _page(context, served.url + "/usage")  # a second tab on the same shared stream
    session = _session(served)
    button = first.locator("#notify")
    expect(button).to_have_text("Notify me")
    assert first.evaluate("window.__asked") == 0  # never asked on load

    button.click()
    expect(button).to_have_text("notifications on")
    expect(button).to_have_attribute("aria-pressed", "true")
    failed = _end(served, session, TurnState.FAILED, "agent exited with status 3")
    done = _end(served, session, TurnState.COMPLETED)

    pages = [first, second]
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(_shown(pages)) < 2:
        assert time.monotonic() < deadline, f"notifications shown: {_shown(pages)}"
        time.sleep(0.2)
    with served.ledger.db.write() as conn:  # a later write of the same turn: no second notice
        turns.update_fields(conn, failed, {"reason": "agent exited with status 3 (again)"})
    _end(served, session, TurnState.CANCELLED, "stopped by a person")
    marker = _end(served, session, TurnState.TIMED_OUT, "no progress for 900s")
    while len(_shown(pages)) < 3:
        assert time.monotonic() < deadline, f"notifications shown: {_shown(pages)}"
        time.sleep(0.2)

    shown = _shown(pages)
    assert [n["tag"] for n in shown] == [
        f"{failed}:failed",
        f"{done}:completed",
        f"{marker}:timed_out",
    ]
    urgent, finished, late = shown
    assert urgent["title"] == f"{failed} needs you: failed"
    assert urgent["body"] == "agent exited with status 3"
    assert urgent["requireInteraction"] is True and urgent["silent"] is False
    assert "notice-needs-you.svg" in urgent["icon"]
    assert finished["title"] == f"{done} finished" and finished["silent"] is True
    assert finished["requireInteraction"] is False and "notice-finished.svg" in finished["icon"]
    assert late["title"] == f"{marker} needs you: timed out"
    assert first.evaluate("window.__asked") == 0 and second.evaluate("window.__asked") == 0
    assert first.evaluate("window.sameDocument") == "still here"
    context.close()


def test_the_button_asks_the_browser_and_only_the_button(served: Served, browser: Browser) -> None:
    context = browser.new_context()  # no permission granted beforehand
    context.add_init_script(SPY)
    page = _page(context, served.url + "/")
    _end(served, _session(served), TurnState.FAILED, "boom")
    expect(page.locator("#notify")).to_be_visible()
    assert page.evaluate("window.__asked") == 0
    page.locator("#notify").click()
    page.wait_for_function("window.__asked === 1")
    expect(page.locator("#notify")).not_to_have_text("notifications on")
    assert page.evaluate("window.__notices") == []
    context.close()


def test_audit_panel_follows_findings_without_a_reload(served: Served, browser: Browser) -> None:
    session = _session(served)
    context = browser.new_context()
    page = _page(context, served.url + "/")
    expect(page.locator("#audit")).to_contain_text("nothing to look at")

    seen = findings.Seen(
        "wedged_thread",
        f"session {session.id}: 2 turns in a row ended context full <img src=x onerror=alert(1)>",
        {"session": session.id},
        time.time() - 300,
    )
    with served.ledger.db.write() as conn:
        findings.sync(conn, "elsewhere", [seen], time.time())
    finding = page.locator("#audit .finding")
    expect(finding).to_have_count(1)
    expect(finding).to_contain_text("wedged_thread")
    expect(finding).to_contain_text("tether rotate SESSION")
    expect(finding.locator(f'a[href="/sessions/{session.id}"]')).to_have_count(1)
    expect(finding.locator(".age")).to_have_text("5m")
    expect(page.locator("#audit img")).to_have_count(0)  # the message is text

    with served.ledger.db.write() as conn:
        findings.sync(conn, "elsewhere", [], time.time())
    expect(page.locator("#audit .finding")).to_have_count(0)
    expect(page.locator("#audit")).to_contain_text("nothing to look at")
    assert page.evaluate("window.sameDocument") == "still here"
    context.close()


def test_thread_gauge_updates_live(served: Served, browser: Browser, tmp_path: Path) -> None:
    session = _session(served)
    with served.ledger.db.write() as conn:
        sessions.bind_native_id(conn, session, "thread-1")
        threads.measure(conn, session, tokens=27_200, window=272_000, log_bytes=2048)
    context = browser.new_context()
    page = _page(context, f"{served.url}/sessions/{session.id}")
    gauge = page.locator("#gauge")
    expect(gauge).to_contain_text("10%")
    expect(gauge).to_contain_text("0 compactions")
    expect(gauge.locator(".rotation")).to_have_count(0)

    with served.ledger.db.write() as conn:
        threads.measure(
            conn, session, tokens=244_800, window=272_000, compactions=1, log_bytes=5 << 20
        )
    expect(gauge).to_contain_text("90%")
    expect(gauge).to_contain_text("1 compaction ")
    expect(gauge).to_contain_text("5.0 MB")
    expect(gauge.locator("meter")).to_have_attribute("value", "0.9000")

    with served.ledger.db.write() as conn:
        threads.overflowed(conn, session, "context full: Prompt is too long")
    expect(gauge.locator(".rotation")).to_have_text(
        "needs rotation: context full: Prompt is too long"
    )
    assert page.evaluate("window.sameDocument") == "still here"
    context.close()


def test_what_the_audit_found_while_the_daemon_was_down_shows_after_it_returns(
    browser: Browser, tmp_path: Path
) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    write_config(home)
    daemon = Daemon(home, work)
    daemon.start()
    ledger = open_ledger(load(daemon.env))
    try:
        context = browser.new_context()
        page = _page(context, daemon.url + "/")
        expect(page.locator("#audit")).to_contain_text("nothing to look at")

        daemon.kill()
        expect(page.locator("#live")).to_have_text("reconnecting…")
        seen = findings.Seen(
            "lost", "turn work-1.1: its runner is gone", {"turn": "work-1.1"}, None
        )
        with ledger.db.write() as conn:
            findings.sync(conn, "elsewhere", [seen], time.time())
        daemon.start()

        expect(page.locator("#live")).to_have_text("live")
        expect(page.locator("#audit .finding")).to_have_count(1)
        expect(page.locator("#audit .finding")).to_contain_text("its runner is gone")
        assert page.evaluate("window.sameDocument") == "still here"
        context.close()
    finally:
        ledger.close()
        daemon.stop()
