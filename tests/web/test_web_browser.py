"""The pages in a real headless Chromium (Selenium): a reader's path week → paper → search →
top asserted on the rendered DOM, a hostile curated week that runs no script and makes no
element of its own, the Content-Security-Policy enforced by the browser, a phone-sized and a
dark-mode rendering, and a channel's private page. Screenshots of the main pages go to
``test-output/screenshots/`` (git-ignored).

Without a browser the tests skip with the reason; with ``PAPERBOY_REQUIRE_BROWSER=1`` (CI)
a missing browser is a failure instead."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.browser import Browser, find_browser, screenshot, start_chromium
from support.web import HOSTILE, HOSTILE_START, NOW, SLACK, ServerThread, seed, web_catalog

from bot.core.weblinks import new_token
from bot.storage import Store

TOKEN = new_token()


@pytest.fixture(scope="module")
def browser() -> Browser:
    found = find_browser()
    if isinstance(found, str):
        if os.environ.get("PAPERBOY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"PAPERBOY_REQUIRE_BROWSER=1 but {found}")
        pytest.skip(found)
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    catalog = web_catalog()

    async def prepare(store: Store) -> None:
        await seed(store, catalog)
        await store.set_feed_token(SLACK, TOKEN, NOW)

    db = tmp_path_factory.mktemp("browser") / "web.sqlite3"
    running = ServerThread(str(db), catalog, prepare).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def driver(browser: Browser, server: ServerThread) -> Iterator[Any]:
    chromium = start_chromium(browser, width=1100, height=900)
    yield chromium
    chromium.quit()


@pytest.fixture(autouse=True)
def desktop(driver: Any) -> None:
    """Each test starts at desktop size in light mode."""
    driver.set_window_size(1100, 900)
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def by_css(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, css))


def text(element: Any) -> str:
    return " ".join(element.text.split())


def shot(driver: Any, name: str, *, full_page: bool = True) -> None:
    """Save a screenshot under test-output/screenshots and check a PNG was written."""
    path = Path(screenshot(driver, name, full_page=full_page))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path


def probe(driver: Any) -> dict[str, list[str]]:
    result: dict[str, list[str]] = driver.execute_script("return window.__probe")
    return result


def test_a_reader_goes_from_week_to_paper_to_search_to_top(
    driver: Any, server: ServerThread
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(server.url + "/")
    driver.find_element(By.LINK_TEXT, "Weeks").click()
    assert text(by_css(driver, "h1")[0]) == "Every curated week"
    by_css(driver, "a.week-link[href='/weeks/2025-06-30']")[0].click()
    assert driver.current_url == server.url + "/weeks/2025-06-30"
    papers = by_css(driver, "article.paper")
    assert len(papers) == 10
    first = papers[0]
    assert text(first.find_element(By.CSS_SELECTOR, ".title")) == "1 Attention Is All You Need"
    assert text(first.find_element(By.CSS_SELECTOR, ".votes")) == "3 votes"
    shot(driver, "week")

    first.find_element(By.LINK_TEXT, "Details").click()
    assert text(by_css(driver, "h1")[0]) == "Attention Is All You Need"
    assert "3 votes, all time" in [text(dd) for dd in by_css(driver, "dd")]
    picked = by_css(driver, "ul.picked a")
    assert [a.get_attribute("href") for a in picked] == [
        server.url + "/weeks/2025-06-30#p-" + driver.current_url.rsplit("/", 1)[1]
    ]
    shot(driver, "paper")

    box = by_css(driver, "form.search input[name=q]")[0]
    box.send_keys("language models has:code", Keys.ENTER)
    assert "/search?q=language+models+has%3Acode" in driver.current_url
    results = [text(e) for e in by_css(driver, "article.paper .title a")]
    assert results and "LLaMA: Open and Efficient Foundation Language Models" in results
    shot(driver, "search")

    driver.find_element(By.LINK_TEXT, "Top").click()
    ranked = [text(li) for li in by_css(driver, "ol.ranked > li")]
    assert ranked[0] == "Attention Is All You Need 3 votes Details"
    driver.find_element(By.LINK_TEXT, "Week").click()
    current = by_css(driver, ".tabs a[aria-current=page]")
    assert [text(a) for a in current] == ["Week"]
    assert driver.current_url.endswith("/top?period=week")
    shot(driver, "top")
    assert probe(driver) == {"dialogs": [], "violations": []}


def test_a_hostile_week_runs_no_script_and_makes_no_element(
    driver: Any, server: ServerThread
) -> None:
    driver.get(f"{server.url}/weeks/{HOSTILE_START.isoformat()}")
    found = driver.execute_script(
        """
        const tags = "script, img, svg, iframe, style, b, object, embed";
        const withHandlers = [...document.querySelectorAll("*")].filter(
          (e) => [...e.attributes].some((a) => a.name.toLowerCase().startsWith("on")));
        const badLinks = [...document.querySelectorAll("a")].filter(
          (a) => !["http:", "https:"].includes(a.protocol));
        return {
          payload: document.querySelectorAll(tags).length,
          handlers: withHandlers.length,
          badLinks: badLinks.map((a) => a.getAttribute("href")),
          hidden: getComputedStyle(document.body).display,
        };
        """
    )
    assert found == {"payload": 0, "handlers": 0, "badLinks": [], "hidden": "block"}
    from selenium.webdriver.common.action_chains import ActionChains

    for element in by_css(driver, "article.paper .title, article.paper .summary"):
        ActionChains(driver).move_to_element(element).perform()  # a hover fires nothing
    assert probe(driver) == {"dialogs": [], "violations": []}
    titles = [text(e) for e in by_css(driver, "article.paper .title")]
    assert titles[0] == "1 " + " ".join(HOSTILE[0].title.split())  # shown, as text
    shot(driver, "hostile")


def test_the_browser_enforces_the_content_security_policy(
    driver: Any, server: ServerThread
) -> None:
    """Were a script ever smuggled into a page, the browser would refuse to run it."""
    driver.get(server.url + "/")
    driver.execute_script(
        "const s = document.createElement('script');"
        "s.textContent = 'window.__ran = true; alert(1)';"
        "document.body.appendChild(s);"
    )
    assert driver.execute_script("return window.__ran === true") is False
    report = probe(driver)
    assert report["dialogs"] == []
    assert [v.split()[0] for v in report["violations"]] == ["script-src-elem"]


def test_pages_fit_a_phone_and_follow_dark_mode(driver: Any, server: ServerThread) -> None:
    driver.set_window_size(390, 844)
    for path in ("/", "/weeks/2025-06-30", "/top", "/papers/1706.03762", "/weeks"):
        driver.get(server.url + path)
        widths = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert widths[0] <= widths[1], (path, widths)  # no sideways scrolling
    driver.get(server.url + "/weeks/2025-06-30")
    shot(driver, "phone", full_page=False)
    light = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    dark = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert (light, dark) == ("rgb(251, 250, 247)", "rgb(18, 19, 22)")
    shot(driver, "phone-dark", full_page=False)


def test_a_channels_private_page_opens_only_with_its_token(
    driver: Any, server: ServerThread
) -> None:
    driver.get(f"{server.url}/c/{TOKEN}")
    assert text(by_css(driver, "h1")[0]) == "This channel"
    assert len(by_css(driver, "ol.posts > li")) == 2
    shot(driver, "channel")
    driver.get(f"{server.url}/c/{new_token()}")
    assert text(by_css(driver, "h1")[0]) == "Not found"
