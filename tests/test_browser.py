"""The connect flow in a real browser: ``target-pinterest-audiences-auth login`` driven through
headless Chromium, as the README's ``login`` step (marked ``# needs a browser``) runs it.

Debian's ``chromium`` and ``chromium-driver`` through Selenium; nothing is downloaded at test
time. The browser opens the consent URL that ``login`` prints (the emulator plays Pinterest's
authorize page; where it shows a consent page with an Allow button, the test presses it), is
redirected to the local callback, and shows the page a user sees there; ``login`` then keeps
the refresh token in the store. Screenshots of the pages go to ``output/screenshots/`` (CI
keeps them as an artifact). Without Chromium the test is skipped, except under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import AD_ACCOUNT
from pinterest_emulator import PinterestEmulator
from target_pinterest_audiences.pinterest.tokens import load_refresh_token, token_key
from target_pinterest_audiences.store import Store

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "output" / "screenshots"
AUTH = Path(sys.executable).with_name("target-pinterest-audiences-auth")
#: Debian's chromium and chromium-driver; a GitHub runner's Chrome and its driver do as well.
CHROMIUM = shutil.which("chromium") or shutil.which("google-chrome") or "/usr/bin/chromium"
CHROMEDRIVER = (
    shutil.which("chromedriver")
    or shutil.which("chromedriver", path=os.environ.get("CHROMEWEBDRIVER", ""))
    or "/usr/bin/chromedriver"
)
CLIENT_ID = "emulator-client-id"
CLIENT_SECRET = "emulator-client-secret"
#: Headless, and nothing that reaches out to Google's hosts (the machine's network is closed).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,700",
)

webdriver = pytest.importorskip("selenium.webdriver")


def _have_chromium() -> bool:
    return Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()


pytestmark = pytest.mark.skipif(
    not _have_chromium() and os.environ.get("CI") != "true",
    reason="Debian's chromium and chromium-driver are not installed (.ci/run installs them)",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:  # type: ignore[name-defined]
    """Headless Chromium with a fresh profile, driven by Debian's chromedriver."""
    assert _have_chromium(), "CI=true: Chromium and ChromeDriver must be installed (see .ci/run)"
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415 - selenium is optional here

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def start_login(emulator: PinterestEmulator, cwd: Path) -> tuple[subprocess.Popen[str], str]:
    """``login`` as the README runs it (credentials from the environment), printing the consent URL."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("TARGET_PINTEREST_AUDIENCES_")}
    env |= {
        "TARGET_PINTEREST_AUDIENCES_CLIENT_ID": CLIENT_ID,
        "TARGET_PINTEREST_AUDIENCES_CLIENT_SECRET": CLIENT_SECRET,
        "TARGET_PINTEREST_AUDIENCES_API_URL": emulator.url,
    }
    argv = ["login", "--no-browser", "--redirect-port", "0", "--timeout", "60", "--json"]
    argv += ["--authorize-url", emulator.root_url + "/oauth/"]
    process = subprocess.Popen(
        [str(AUTH), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=env
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("http"):
            return process, line.strip()
    process.kill()
    pytest.fail("login printed no consent URL")


def shoot(driver: webdriver.Chrome, name: str) -> Path:  # type: ignore[name-defined]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    assert driver.save_screenshot(str(path)), path
    return path


@pytest.fixture
def emulator() -> Iterator[PinterestEmulator]:
    """An emulator whose authorize page asks for consent, as Pinterest's does."""
    with PinterestEmulator(ad_account_ids=(AD_ACCOUNT,), consent_page=True) as emu:
        yield emu


def press(driver: webdriver.Chrome, emulator: PinterestEmulator, button: str) -> None:  # type: ignore[name-defined]
    """On the consent page (at the authorize URL), keep a screenshot and press Allow or Deny."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support.wait import WebDriverWait  # noqa: PLC0415

    assert driver.current_url.startswith(emulator.root_url + "/oauth/"), driver.current_url
    assert "Give access to your Pinterest account?" in driver.find_element(By.TAG_NAME, "body").text
    shoot(driver, "1-consent.png")
    driver.find_element(By.ID, button).click()
    # The press navigates to the local callback: wait for its page before reading it.
    WebDriverWait(driver, 30).until(lambda d: urlsplit(d.current_url).path == "/callback")
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def test_login_in_a_real_browser(browser: webdriver.Chrome, emulator: PinterestEmulator, tmp_path: Path) -> None:  # type: ignore[name-defined]
    process, url = start_login(emulator, tmp_path)
    try:
        browser.get(url)
        press(browser, emulator, "allow")
        # Pinterest's redirect landed on the local callback, which answers with a page.
        landed = urlsplit(browser.current_url)
        assert landed.hostname == "localhost"
        assert landed.path == "/callback"
        assert parse_qs(landed.query)["state"] == parse_qs(urlsplit(url).query)["state"]
        page = browser.find_element("tag name", "body").text
        title = browser.title
        shoot(browser, "2-callback-connected.png")
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert title == "target-pinterest-audiences"
    assert "Pinterest is connected" in page
    assert "You can close this window: the terminal shows the settings to use." in page

    printed = json.loads(stdout)
    refresh_token = printed["settings"]["refresh_token"]
    assert refresh_token in emulator.refresh_tokens
    code = parse_qs(landed.query)["code"][0]
    for secret in (refresh_token, code, CLIENT_SECRET):
        assert secret not in page
        assert secret not in stderr
    # Kept where the target run from this directory looks for it: its default store, encrypted.
    store = Store.open(f"sqlite:///{tmp_path / '.target-pinterest-audiences' / 'store.db'}")
    try:
        key = token_key(CLIENT_ID, refresh_token)
        assert load_refresh_token(store, key, CLIENT_SECRET) == refresh_token
        assert refresh_token not in str(store.refresh_token(key))
    finally:
        store.close()


def test_a_refused_consent_shows_a_page_and_fails_in_one_line(
    browser: webdriver.Chrome,  # type: ignore[name-defined]
    emulator: PinterestEmulator,
    tmp_path: Path,
) -> None:
    """The user presses Deny: Pinterest sends ``error=access_denied`` and the state back."""
    process, url = start_login(emulator, tmp_path)
    try:
        browser.get(url)
        press(browser, emulator, "deny")
        page = browser.find_element("tag name", "body").text
        shoot(browser, "3-callback-refused.png")
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert "Authorisation failed" in page
    assert "access_denied" in page
    assert process.returncode == 1
    assert stdout == ""
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("target-pinterest-audiences-auth: error: Pinterest did not authorise the app: access_denied")
    assert [r for r in emulator.requests if r.path == "/oauth/token"] == []
    assert not (tmp_path / ".target-pinterest-audiences").exists()


def test_the_matching_page_opens_offline_with_a_chart_per_list(
    browser: webdriver.Chrome,  # type: ignore[name-defined]
    tmp_path: Path,
) -> None:
    """``target-pinterest-audiences-report --html``: with the network off, the page shows one chart
    per list, each with its members-held and audience-size lines."""
    from selenium.webdriver.common.by import By  # noqa: PLC0415 - selenium is optional here

    from test_report_cli import LISTS, REPORT, history_store  # noqa: PLC0415 - builds a store with history

    config = history_store(tmp_path)
    page = tmp_path / "matching.html"
    made = subprocess.run(
        [str(REPORT), "--config", str(config), "--html", str(page)], capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stderr
    browser.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    browser.get(page.as_uri())
    charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert len(charts) == len(LISTS)
    for chart in charts:
        assert chart.size["width"] > 0
        assert len(chart.find_elements(By.CSS_SELECTOR, "polyline")) == 2  # members held, audience size
    headings = [element.text for element in browser.find_elements(By.CSS_SELECTOR, "section.list h2")]
    assert headings == list(LISTS)
    shoot(browser, "matching-report.png")
