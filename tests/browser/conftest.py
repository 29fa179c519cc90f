"""A headless Chromium for the page tests: the system's Chromium and chromedriver (Debian's
`chromium` and `chromium-driver`, which .ci/run installs), driven by Selenium. Nothing is
downloaded; the tests skip, saying why, where either is missing."""

import os
import shutil
import tempfile

import pytest

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,800")
WIDTH, HEIGHT = 1280, 800


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK) else None)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser():
    """A Chrome WebDriver at a 1280x800 viewport, its console and network events logged."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    chromium = _find("chromium", "chromium-browser", "/usr/bin/chromium", "google-chrome")
    driver_path = _find("chromedriver", "/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
    if chromium is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium chromium-driver)")
    if driver_path is None:
        pytest.skip("no chromedriver on this machine (apt-get install chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="seqgrad-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    except Exception as error:  # noqa: BLE001 (a Chromium that does not start: say why and skip)
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"Chromium did not start: {str(error).splitlines()[0]}")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
