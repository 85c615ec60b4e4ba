"""A session page on host a, for a project whose checkout is on host b (one PostgreSQL ledger).

The message typed on a's page runs on b; what b commits reaches a's page
through a's live channel (LISTEN/NOTIFY, read back from the ledger), with no
reload and nothing shown twice.
"""

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, expect
from tests.acceptance import test_team
from tests.acceptance.test_team import Host, _spawn, _web_on

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
WAIT_MS = 90_000
expect.set_options(timeout=WAIT_MS)
team_host = test_team.team_host  # the same daemons as the team acceptance tests


def test_a_message_typed_on_a_s_page_runs_on_b_and_its_reply_appears_live(
    team_host: Callable[..., Host], browser: Browser
) -> None:
    a, b = team_host("a"), team_host("b")
    a.serve()
    b.serve()
    _web_on(a, b)
    session, first = _spawn(a, "first")
    a.wait(first)
    page = browser.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{a.url}/sessions/{session}")
    page.evaluate("window.sameDocument = 'still here'")  # gone if the page reloads
    expect(page.locator("#live")).to_have_text("live")
    expect(page.locator("#transcript")).to_contain_text("echo: first")

    page.fill("textarea[name=message]", "typed on a")
    page.click("#composer button[type=submit]")

    expect(page.locator("#transcript")).to_contain_text("echo: typed on a")
    expect(page.locator(f"#turn-{session}\\.2")).to_contain_text("completed")
    assert page.evaluate("window.sameDocument") == "still here"
    ids = page.eval_on_selector_all("[data-event]", "els => els.map(e => e.dataset.event)")
    assert len(ids) == len(set(ids)), f"an event is shown twice: {ids}"
    assert a.turn(f"{session}.2")["host"] == "b"
    assert len(b.runs()) == 2 and a.runs() == [], "the turns did not run (only) on b"
