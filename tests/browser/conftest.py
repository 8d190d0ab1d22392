"""A real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by Selenium.

Selenium is pointed at the system binaries: its own browser download cannot reach the network.
``.ci/run`` installs the two packages on a fresh machine; without them these tests are skipped
with the command that installs them.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("QKDLAB_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("QKDLAB_CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="session")
def browser():
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER}: apt-get install -y chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1500", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)  # a loaded CI machine
    yield driver
    driver.quit()

