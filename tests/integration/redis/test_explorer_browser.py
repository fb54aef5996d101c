"""The explorer page in headless Chromium (Debian's, see scripts/chromium.sh), against the real
server and a Redis filled by a replay."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.explorer import (
    T0,
    closed_port,
    expected_sessions,
    replay,
    replayed_database,
    running_server,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "explorer.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/chromium.sh (installs Debian's chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with replayed_database(tmp_path_factory.mktemp("browser")) as url:
        yield url


@pytest.fixture(scope="module")
def server(filled: str) -> Iterator[str]:
    with running_server(filled) as base:
        yield base


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    page.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def api_total(server: str, user: str) -> int:
    return httpx.get(f"{server}/api/sessions", params={"user_id": user}).json()["total"]


def shown_user(page: Page) -> tuple[int, int, int]:
    """The user's session count as the page states it, bars drawn, and table rows."""
    page.wait_for_selector("#user-meta[data-total]")
    total = int(page.get_attribute("#user-meta", "data-total"))
    return total, page.evaluate("window.explorer.drawnSessions()"), page.locator("#session-table tbody tr").count()


def wait_for_user(page: Page, user: str) -> None:
    """Until the page shows `user`'s sessions: their count stated, and the bars drawn for it."""
    page.wait_for_function(
        "u => document.querySelector('#user-meta').dataset.user === u && window.explorer.state.user === u"
        " && window.explorer.drawnSessions() === window.explorer.state.sessions.length",
        arg=user,
    )


def test_search_draws_the_users_sessions(page: Page, server: str, tmp_path: Path) -> None:
    page.goto(f"{server}/?refresh=1000")
    leaders = httpx.get(f"{server}/api/top", params={"limit": 5}).json()["leaders"]
    leader = next(r["user_id"] for r in leaders if r["user_id"].startswith("user-"))  # generated, not "pager"
    page.fill("#user-search", leader[:-1])
    page.wait_for_selector(f"#suggestions button[data-user='{leader}']")  # prefix suggestions
    page.fill("#user-search", leader)
    page.press("#user-search", "Enter")
    wait_for_user(page, leader)
    total = api_total(server, leader)
    assert total > 1 and shown_user(page) == (total, total, total)
    assert leader in page.text_content("#user-title")

    # Hover a bar: Chart.js shows its stats; click it: the detail panel and the row follow.
    bar = page.evaluate(
        "(() => { const b = window.explorer.timeline.getDatasetMeta(0).data[0]; return [b.x, b.y]; })()"
    )
    box = page.locator("#timeline").bounding_box()
    page.mouse.move(box["x"] + bar[0] - 1, box["y"] + bar[1])
    page.wait_for_function("window.explorer.timeline.tooltip.getActiveElements().length > 0")
    page.mouse.click(box["x"] + bar[0] - 1, box["y"] + bar[1])
    page.wait_for_selector("#session-detail:not([hidden])")
    selected = page.evaluate("window.explorer.state.selected")
    start = page.get_attribute("#session-table tbody tr.selected", "data-start")
    assert selected is not None and int(start) == selected
    assert "events" in page.text_content("#session-detail")

    page.wait_for_function("Number(document.querySelector('#status').dataset.refreshes) >= 2")
    assert page.evaluate("window.explorer.state.selected") == selected  # a refresh keeps the selection
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)
    shutil.copy(SCREENSHOT, tmp_path / "explorer.png")


def test_leaderboard_click_shows_that_user(page: Page, server: str) -> None:
    page.goto(server)
    page.wait_for_selector("#leaderboard tbody tr")
    third = page.locator("#leaderboard tbody tr button").nth(2)
    user = third.get_attribute("data-user")
    third.click()
    wait_for_user(page, user)
    total = api_total(server, user)
    assert shown_user(page) == (total, total, total)
    assert f"user={quote(user, safe='')}" in page.url


@pytest.mark.parametrize("user", ["a/sessions/1", "..", "ünï©ødé 👀", "x#y?z=1&w", "%41", "[x]"])
def test_odd_ids_by_link_and_by_search(page: Page, server: str, user: str) -> None:
    page.goto(f"{server}/?user={quote(user, safe='')}")
    wait_for_user(page, user)
    assert shown_user(page) == (expected_sessions(user),) * 3
    page.fill("#user-search", "pager")
    page.press("#user-search", "Enter")
    wait_for_user(page, "pager")
    page.fill("#user-search", user)
    page.click("#search-form button")
    wait_for_user(page, user)
    assert shown_user(page)[1] == expected_sessions(user)


def test_switching_users_clears_the_old_ones_first(page: Page, server: str) -> None:
    page.goto(f"{server}/?user=pager")
    wait_for_user(page, "pager")
    held = []
    page.route("**/api/sessions?*", lambda route: held.append(route))  # hold the next user's sessions back
    page.fill("#user-search", "a:b")
    page.press("#user-search", "Enter")
    page.wait_for_function("() => document.querySelector('#user-meta').textContent === 'Loading…'")
    assert page.evaluate("window.explorer.drawnSessions()") == 0
    assert page.locator("#session-table tbody tr").count() == 0
    for route in held:
        route.continue_()
    page.unroute("**/api/sessions?*")
    wait_for_user(page, "a:b")
    assert shown_user(page)[1] == expected_sessions("a:b")


def test_unknown_user_says_so(page: Page, server: str) -> None:
    page.goto(f"{server}/?user=nobody-at-all")
    page.wait_for_selector("#user-meta[data-total='0']")
    assert "No sessions" in page.text_content("#user-meta")
    assert page.evaluate("window.explorer.drawnSessions()") == 0


def test_figures_follow_new_writes(page: Page, server: str, filled: str, tmp_path: Path) -> None:
    page.goto(f"{server}/?refresh=500&user=late-comer")
    page.wait_for_selector("#user-meta[data-total='0']")
    # The figures load on their own request; until then they show a dash.
    page.wait_for_function("/^[0-9,]+$/.test(document.querySelector('#stat-users').textContent)")
    before = int(page.text_content("#stat-users").replace(",", ""))
    events = [{"user_id": "late-comer", "timestamp": T0 + i * 1000} for i in range(5)]
    events += [{"user_id": "late-comer", "timestamp": T0 + 3_600_000}]
    replay(tmp_path / "more.jsonl", filled, events)
    page.wait_for_function(f"document.querySelector('#stat-users').textContent === '{before + 1}'", timeout=20_000)
    wait_for_user(page, "late-comer")
    assert shown_user(page) == (2, 2, 2)


def test_redis_down_shows_a_banner(page: Page) -> None:
    with closed_port() as port, running_server(f"redis://127.0.0.1:{port}/0") as base:
        page.goto(f"{base}/?refresh=500")
        page.wait_for_selector("#error:not([hidden])")
        assert "Redis is unavailable" in page.text_content("#error")
        assert "retrying" in page.text_content("#status")
