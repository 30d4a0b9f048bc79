"""The "your devices" page in a real headless browser (Debian's chromium and chromedriver,
driven by selenium): two devices signed in — the browser as a Mac/Chrome laptop and an
iPhone over plain HTTP — both labelled on the page; one click on "Revoke" beside the iPhone
and that session is gone in Redis and from the page.

Without chromium or chromedriver the test is skipped, unless ``SESSIONWARDEN_REQUIRE_REDIS=1``
(CI, where `.ci/run` installs them), which makes it a failure — the same rule as for
redis-server. The screenshot is saved under the test's temporary directory, and to
``docs/images/devices.png`` with ``SESSIONWARDEN_UPDATE_IMAGES=1``."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from conftest import IPHONE_SAFARI, MAC_CHROME, REQUIRE_REAL
from webapp_support import ALICE, PASSWORD, ROOT, Device, serve

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=900,640")


def browser_or_skip() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[dev]')")
    if missing:
        message = "no headless browser: missing " + ", ".join(missing) + (
            " (apt-get install chromium chromium-driver)")
        if REQUIRE_REAL:
            pytest.fail(message + "; SESSIONWARDEN_REQUIRE_REDIS=1 makes this a failure")
        pytest.skip(message)


def test_devices_page_revokes_the_other_device_in_one_click(real_backend,
                                                           tmp_path: Path) -> None:
    browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    profile = tempfile.mkdtemp(prefix="sw-chromium-", dir=tmp_path)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--user-agent={MAC_CHROME}"):
        options.add_argument(flag)
    # behind a CDN that says where each client is (CF-IPCountry / CF-IPCity)
    with serve(real_backend.url, geo_headers=True) as web:
        phone = Device(web.base, IPHONE_SAFARI, CF_IPCountry="PT", CF_IPCity="Lisbon")
        phone.sign_in()  # the other device: an iPhone, over plain HTTP
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        try:
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {
                "CF-IPCountry": "US", "CF-IPCity": "San Francisco"}})
            wait = WebDriverWait(driver, 20)
            driver.get(web.base + "/login")
            driver.find_element(By.NAME, "email").send_keys(ALICE)
            driver.find_element(By.NAME, "password").send_keys(PASSWORD)
            driver.find_element(By.CSS_SELECTOR, "form button").click()
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "ul.devices li")))

            rows = driver.find_elements(By.CSS_SELECTOR, "ul.devices li")
            labels = {r.get_attribute("data-session"): r.text for r in rows}
            assert len(labels) == 2, labels
            mine = next(sid for sid, text in labels.items() if "this device" in text)
            other = next(sid for sid in labels if sid != mine)
            assert labels[mine].startswith("Mac/Chrome — San Francisco — Active "), labels
            assert labels[other].startswith("iPhone/Safari — Lisbon — Active "), labels
            assert {v.session_id for v in web.mgr.get_active_sessions(ALICE)} == {mine, other}
            shot = tmp_path / "devices.png"
            driver.save_screenshot(str(shot))
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            if os.environ.get("SESSIONWARDEN_UPDATE_IMAGES") == "1":
                shutil.copyfile(shot, ROOT / "docs" / "images" / "devices.png")

            driver.find_element(By.CSS_SELECTOR, f'li[data-session="{other}"] button').click()
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.note")))
            deadline = time.monotonic() + 10
            while (driver.find_elements(By.CSS_SELECTOR, f'li[data-session="{other}"]')
                   and time.monotonic() < deadline):
                time.sleep(0.1)
            assert not driver.find_elements(By.CSS_SELECTOR, f'li[data-session="{other}"]')
            assert driver.find_elements(By.CSS_SELECTOR, f'li[data-session="{mine}"]')
            assert "Signed that device out." in driver.page_source
            assert [v.session_id for v in web.mgr.get_active_sessions(ALICE)] == [mine]
            assert "Sign in" in phone.get("/devices")[1]  # and the iPhone is signed out
        finally:
            driver.quit()
