"""The Dagster UI in a real browser (headless Debian Chromium through Selenium): on a seeded, synced sandbox with a
run started from the CLI, `crm-sync ui` shows what a user looks for - the asset groups, the schedules, the run and
its status, an asset's metadata and its checks. Screenshots of each page go to the test's temporary folder."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from crm_sync_tests.test_ui import _ui, _ui_config

WAIT = 60  # seconds for a page's content: the machine running the suite may be slow
DIALOGS = "[role=dialog], .bp5-dialog, .bp4-dialog"
DISMISS = ("Skip", "Dismiss", "Close", "Got it", "No thanks", "Done")  # Dagster's "Join the community" has Skip


def _browser(tmp_path: Path) -> webdriver.Chrome:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and chromedriver, ("the browser test needs Debian's chromium and chromium-driver "
                                       f"(chromium: {chromium}, chromedriver: {chromedriver}); .ci/run installs them")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium  # with the driver's path below: no Selenium Manager (it would download)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    service = Service(executable_path=chromedriver, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT)
    return driver


def _lines(driver) -> list[str]:
    return [line.strip() for line in driver.find_element(By.TAG_NAME, "body").text.splitlines() if line.strip()]


def _wait_for(driver, shots: Path, what: str, condition):
    """condition(lines of the page's text) once it holds (its value), or a failure naming what did not appear,
    with the page's text and a screenshot of it."""
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.3, ignored_exceptions=(StaleElementReferenceException,)
                             ).until(lambda d: condition(_lines(d)))
    except TimeoutException:
        driver.save_screenshot(str(shots / f"failed-{what.replace(' ', '_')}.png"))
        raise AssertionError(f"{what}: not shown within {WAIT} s at {driver.current_url}; the page shows:\n"
                             + "\n".join(_lines(driver))[-3000:]) from None


def _open_dialogs(driver) -> list:
    return [e for e in driver.find_elements(By.CSS_SELECTOR, DIALOGS) if e.is_displayed()]


def dismiss_dialogs(driver, appear_within: float = 0) -> None:
    """Close a dialog covering the page (Dagster's first-visit "Join the Dagster community" opens a second after
    the first page; skipping it is remembered in the instance): its Skip/Dismiss/Close button, else Escape
    (which that one ignores).
    Waits up to appear_within seconds for one to open; does nothing when there is none."""
    if appear_within:
        try:
            WebDriverWait(driver, appear_within, poll_frequency=0.2,
                          ignored_exceptions=(StaleElementReferenceException,)).until(_open_dialogs)
        except TimeoutException:
            return
    for dialog in _open_dialogs(driver):
        buttons = [b for b in dialog.find_elements(By.TAG_NAME, "button") if b.text.strip() in DISMISS]
        if buttons:
            buttons[0].click()
        else:
            ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    try:
        WebDriverWait(driver, 10, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: not _open_dialogs(d))
    except TimeoutException:  # Escape does not close every dialog (Dagster's first-visit one): name its buttons
        raise AssertionError(f"a dialog still covers the page (buttons {DISMISS} dismiss one): "
                             + " | ".join(e.text for e in _open_dialogs(driver))) from None


def _settled(driver, quiet: float = 0.5, at_most: float = 10) -> None:
    """Until the page has fetched nothing new for `quiet` seconds (icons, fonts and data arrive after the text)."""
    count = "return performance.getEntriesByType('resource').length"
    seen, deadline = driver.execute_script(count), time.monotonic() + at_most
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = driver.execute_script(count)
        if now == seen:
            return
        seen = now


def _screenshot(driver, shots: Path, name: str) -> Path:
    dismiss_dialogs(driver)
    _settled(driver)
    path = shots / f"{name}.png"
    assert driver.save_screenshot(str(path)), path
    return path


def _after(lines: list[str], first: str, within: int = 8) -> list[str]:
    """The lines after each line `first` (a row of a list, a label's value, as the page reads)."""
    return [then for i, line in enumerate(lines) if line == first for then in lines[i + 1:i + 1 + within]]


def check_pages(driver, base: str, run_id: str, shots: Path) -> list[Path]:
    """Visit the pages a user looks at after a run and wait for what they look for; a screenshot of each."""
    saved = []

    # The asset graph: the four groups, in the sidebar's tree and as boxes of the graph (each name twice), the
    # boxes with their assets' statuses
    driver.get(f"{base}/asset-groups")
    groups = ("extract", "backfill", "plan", "load")
    _wait_for(driver, shots, "asset groups", lambda lines: all(lines.count(g) >= 2 for g in groups))
    dismiss_dialogs(driver, appear_within=5)  # the first visit's dialog, if this Dagster shows one
    _wait_for(driver, shots, "the groups' statuses", lambda lines: not any("fetching statuses" in line
                                                                           for line in lines))
    saved.append(_screenshot(driver, shots, "asset_groups"))

    # The schedules, with when they run (both off: schedule.enabled is false in sync.yaml)
    driver.get(f"{base}/automation")
    _wait_for(driver, shots, "schedules", lambda lines: all(
        any(then.startswith("Scheduled ") for then in _after(lines, name, 1))
        for name in ("sync_cycle_schedule", "reconcile_schedule")))
    saved.append(_screenshot(driver, shots, "schedules"))

    # The run history: the CLI's run, its job and its status in one row
    driver.get(f"{base}/runs")
    _wait_for(driver, shots, "the CLI's run in the run list", lambda lines: {"sync_cycle", "Success"}
              <= set(_after(lines, run_id[:8])))
    saved.append(_screenshot(driver, shots, "runs"))

    # The run's page: its id, status and job, its event log down to the run's success
    driver.get(f"{base}/runs/{run_id}")
    _wait_for(driver, shots, "the run's page", lambda lines: "Success" in _after(lines, run_id[:8], 2)
              and any(line.startswith("sync_cycle") for line in lines) and "RUN_SUCCESS" in lines)
    saved.append(_screenshot(driver, shots, "run"))

    # An asset's page: its latest materialization's metadata table (the plan's figures and summary)
    driver.get(f"{base}/assets/sync/plan/people")
    labels = ("updates_salesforce", "updates_hubspot", "creates_salesforce", "links_by_key", "summary", "next_load")
    _wait_for(driver, shots, "the plan's metadata", lambda lines: {"Latest materialization", "Metadata", *labels}
              <= set(lines) and any(value.isdigit() for value in _after(lines, "updates_salesforce", 2)))
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})",
                          driver.find_element(By.XPATH, "//*[normalize-space(text())='Metadata']"))
    saved.append(_screenshot(driver, shots, "asset_metadata"))

    # ... and its checks, links_one_to_one passed
    driver.get(f"{base}/assets/sync/plan/people?view=checks")
    _wait_for(driver, shots, "the plan's checks", lambda lines: "Succeeded" in _after(lines, "links_one_to_one", 1)
              and "Succeeded" in _after(lines, "outgoing_values_valid", 1) and "Passed" in lines)
    saved.append(_screenshot(driver, shots, "asset_checks"))
    return saved


def test_the_ui_in_a_browser_shows_groups_schedules_a_cli_run_metadata_and_checks(tmp_path, capsys, monkeypatch):
    from crm_sync.cli import main
    from crm_sync_tests.sync_harness import converged_env

    monkeypatch.delenv("DAGSTER_HOME", raising=False)  # the config's dagster_home, then
    shots = tmp_path / "screenshots"
    shots.mkdir()
    _browser(tmp_path).quit()  # a browser that starts, before the minutes of sandbox and UI

    with converged_env(tmp_path / "env", product_instance=True) as env:
        assert main(["run", "--config", str(env.config_path)]) == 0
        printed = capsys.readouterr().out
    runs = [line.split()[1].rstrip(":") for line in printed.splitlines()
            if line.startswith("Run ") and line.endswith(": succeeded")]
    assert len(runs) == 1, printed
    run_id = runs[0]
    home = tmp_path / "env" / "dagster_home"
    with _ui(_ui_config(tmp_path, dagster_home=home), tmp_path) as (_, port, _started):
        driver = _browser(tmp_path)
        try:
            saved = check_pages(driver, f"http://127.0.0.1:{port}", run_id, shots)
        except WebDriverException as error:
            raise AssertionError(f"the browser failed at {driver.current_url}: {error.msg}") from error
        finally:
            driver.quit()
    assert [p.name for p in saved] == ["asset_groups.png", "schedules.png", "runs.png", "run.png",
                                       "asset_metadata.png", "asset_checks.png"]
    for path in saved:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000, path
