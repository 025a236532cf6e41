"""A real browser for the tests: Debian's Chromium, headless, driven by Playwright.

``browser_page`` logs in as a person does, through the login page of Airflow's SimpleAuthManager, and
yields the logged-in page. That page keeps its JWT as Airflow's UI does, in the ``_token`` cookie the
login page sets (path ``/``, not HttpOnly), so it reaches every route on the api-server's origin,
plugin apps included.

Chromium comes from Debian (``tests/system-packages.sh`` installs it), not from ``playwright
install``, which downloads a build of its own from a host this project cannot reach.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, sync_playwright

# The real binary of Debian's package; /usr/bin/chromium is a shell wrapper around it that adds flags
# of its own (GPU rasterization, an extensions list) from /etc/chromium.d.
DEBIAN_CHROMIUM = Path("/usr/lib/chromium/chromium")
TIMEOUT = 30.0  # seconds, for the launch, any one navigation and any one wait
VIEWPORT = {"width": 1280, "height": 800}
LOGIN_PATH = re.compile(r"/auth/login\b")
TOKEN_COOKIE = "_token"  # where the UI (and so the browser) keeps the JWT


def chromium_path() -> Path:
    """Debian's Chromium binary, or an error that says how to install it."""
    if DEBIAN_CHROMIUM.is_file():
        return DEBIAN_CHROMIUM
    wrapper = shutil.which("chromium")
    if wrapper:
        return Path(wrapper)
    raise FileNotFoundError(
        f"Debian's chromium is not installed ({DEBIAN_CHROMIUM} is missing): "
        "run `bash tests/system-packages.sh`, as root or with sudo"
    )


@contextmanager
def browser_page(base_url: str, username: str, password: str, timeout: float = TIMEOUT) -> Iterator[Page]:
    """A headless Chromium page logged in to Airflow at ``base_url`` through its own login page.

    Opens ``base_url``, follows the UI to the SimpleAuthManager login form, signs in, and waits until the
    UI has loaded for the user. On exit the browser is closed and any process it left is killed by id.
    ``page.context.browser.new_context()`` gives a context that is not logged in, on the same browser.
    """
    executable = chromium_path()
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    started: list[psutil.Process] = []  # the Playwright driver, the browser and the browser's helpers
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable,
                headless=True,
                chromium_sandbox=False,  # as root Chromium cannot sandbox; Playwright passes --no-sandbox
                timeout=timeout * 1000,
            )
            try:
                context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="UTC")
                context.set_default_timeout(timeout * 1000)
                context.set_default_navigation_timeout(timeout * 1000)
                page = context.new_page()
                log_in(page, base_url, username, password, timeout)
                yield page
            finally:
                started = _started_since(before)
                with contextlib.suppress(PlaywrightError):
                    browser.close()
    finally:
        _reap(started or _started_since(before))


def log_in(page: Page, base_url: str, username: str, password: str, timeout: float = TIMEOUT) -> None:
    """Sign in on the login page the UI sends an anonymous visitor to; return once the UI has loaded."""
    page.goto(base_url, wait_until="domcontentloaded")
    # The UI's page answers 200 and its script sends the visitor on, by /api/v2/auth/login?next=...,
    # to the auth manager's login page.
    try:
        page.wait_for_url(LOGIN_PATH, timeout=timeout * 1000)
    except PlaywrightError as exc:
        raise AssertionError(f"{base_url} did not lead to Airflow's login page; the browser is at {page.url}") from exc
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    # The login page posts to /auth/token, stores the JWT in the _token cookie and moves on to ``next``;
    # a wrong password leaves it on the login page with an "Invalid credentials" alert.
    refused = page.get_by_text("Invalid credentials")
    page.wait_for_function(
        "() => !location.pathname.includes('/auth/login') || document.body.innerText.includes('Invalid credentials')",
        timeout=timeout * 1000,
    )
    if LOGIN_PATH.search(page.url) and refused.count():
        raise AssertionError(f"Airflow's login page refused {username!r}: {refused.first.inner_text()}")
    wait_for_ui(page, timeout)


def wait_for_ui(page: Page, timeout: float = TIMEOUT) -> None:
    """Until the UI shows its navigation with the user menu, which it shows only to a signed-in user."""
    page.get_by_role("button", name="User").wait_for(state="visible", timeout=timeout * 1000)


def screenshot(page: Page, path: str | Path, full_page: bool = True) -> Path:
    """Save what the page shows as a PNG at ``path`` (its folder made if missing); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page, timeout=TIMEOUT * 1000)
    return path


def _started_since(before: set[int]) -> list[psutil.Process]:
    """The processes Playwright started: this process's new children (its driver) and everything below them.

    Not every new process below this one: a server the test started before (PostgreSQL, Airflow) forks new
    ones all the time (a backend per connection, a task process per task), and killing one of those would
    crash the server under the test (PostgreSQL goes into recovery when a backend is killed)."""
    new = [p for p in psutil.Process().children() if p.pid not in before]
    below = [child for p in new for child in _children(p)]
    return [*new, *below]


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _reap(processes: list[psutil.Process], timeout: float = 10.0) -> None:
    """Wait for these processes to end; kill, by id, any still running after ``timeout``.

    Polls rather than waits: once the driver is gone, the browser's processes belong to init, and one
    that has exited can stay a zombie for a while.
    """

    def running() -> list[psutil.Process]:
        alive = []
        for proc in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
        return alive

    for grace in (timeout, 5.0):
        deadline = time.monotonic() + grace
        while running() and time.monotonic() < deadline:
            time.sleep(0.1)
        for proc in running():
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
