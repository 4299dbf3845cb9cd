"""A real headless Chromium for tests, driven by Selenium (Debian's ``chromium`` and
``chromium-driver``; ``.ci/run`` installs them when missing).

``find_browser()`` says where the browser and its driver are, or why there is none (tests then
skip with that reason). ``start_chromium()`` starts one with a fresh profile and the flags that
keep it from reaching for the network (this machine's network is closed, and Chromium is slow
while its background requests time out). Before any page script runs, every document gets a
probe that records calls to ``alert``/``confirm``/``prompt`` and Content-Security-Policy
violations in ``window.__probe``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

from support.paths import REPO

SCREENSHOTS = REPO / "test-output" / "screenshots"

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--lang=en-US",
)

PROBE = """
window.__probe = {dialogs: [], violations: []};
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = function (message) { window.__probe.dialogs.push(name + ":" + message); };
}
document.addEventListener("securitypolicyviolation", function (e) {
  window.__probe.violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


@dataclass(frozen=True)
class Browser:
    chromium: str
    driver: str


def find_browser() -> Browser | str:
    """The browser and driver to use (``CHROMIUM`` / ``CHROMEDRIVER`` override the search), or
    the reason there are none."""
    chromium = os.environ.get("CHROMIUM") or next(
        (
            p
            for name in ("chromium", "chromium-browser", "google-chrome")
            if (p := shutil.which(name))
        ),
        None,
    )
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if chromium is None:
        return "no Chromium found (apt-get install chromium chromium-driver, or set CHROMIUM)"
    if driver is None:
        return "no chromedriver found (apt-get install chromium-driver, or set CHROMEDRIVER)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return Browser(chromium, driver)


def start_chromium(browser: Browser, width: int = 1200, height: int = 900) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser.chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='paperboy-chromium-')}")
    driver = webdriver.Chrome(service=Service(browser.driver), options=options)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": PROBE})
    return driver


def screenshot(driver: Any, name: str, *, full_page: bool = True) -> str:
    """Save the current page as ``test-output/screenshots/<name>.png`` (the whole page, not
    only the window, when ``full_page``); returns the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if full_page:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        width = driver.execute_script("return window.innerWidth")
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {
                "width": width,
                "height": min(int(height), 6000),
                "deviceScaleFactor": 1,
                "mobile": False,
            },
        )
        driver.save_screenshot(str(path))
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    else:
        driver.save_screenshot(str(path))
    return str(path)
