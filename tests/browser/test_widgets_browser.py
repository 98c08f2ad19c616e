"""The widgets in a real JupyterLab with headless Chromium.

Runs a fresh notebook (conflicting workload + both widgets) through the page and checks the
DOM: the storage table lists the object's keys, the timeline has a conflicted attempt and a
retry linked to it. Screenshots go to ``$MFBOOK_ARTIFACTS`` (printed); with
``MFBOOK_UPDATE_SCREENSHOTS=1`` they are also copied to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import nbformat

from .conftest import REPO
from .notebook import build_notebook

EXPECTED_KEYS = ["avatar", "count", "joined", "notes", "profile", "tags", "updated", "visits"]
TIMEOUT_MS = int(os.environ.get("MFBOOK_BROWSER_TIMEOUT_MS", "60000"))


def _open_and_run(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/lab/tree/{name}?reset")
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=TIMEOUT_MS)
    # The toolbar's execution indicator reads "idle" before a kernel is connected; ask the session.
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
        timeout=TIMEOUT_MS,
    )
    # Not awaited: the command's promise settles only when every cell has run.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def _screenshot(target: Any, artifacts: Path, name: str, saved: list[Path]) -> None:
    path = artifacts / name
    target.screenshot(path=str(path))
    saved.append(path)
    print(f"screenshot: {path}")


def test_widgets_render_storage_and_conflicts_in_jupyterlab(
    jupyter_lab: dict[str, Any], browser: Any, artifacts_dir: Path
) -> None:
    name = f"widgets-{uuid.uuid4().hex[:8]}.ipynb"
    nbformat.write(build_notebook(), jupyter_lab["root"] / name)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    saved: list[Path] = []
    try:
        _open_and_run(page, jupyter_lab["base"], name)
        page.locator(".jp-OutputArea-output", has_text="workload done:").first.wait_for(timeout=TIMEOUT_MS)

        storage = page.locator(".mf-storage-browser").first
        storage.locator("table.mf-storage").wait_for(state="visible", timeout=TIMEOUT_MS)
        page.wait_for_function(
            """(expected) => {
                const rows = document.querySelectorAll('table.mf-storage tr[data-key]');
                const keys = [...rows].map((row) => row.dataset.key);
                return expected.every((key) => keys.includes(key));
            }""",
            arg=EXPECTED_KEYS,
            timeout=TIMEOUT_MS,
        )
        keys = storage.locator("table.mf-storage tr[data-key]").evaluate_all("rows => rows.map(r => r.dataset.key)")
        assert keys == EXPECTED_KEYS
        assert storage.locator('tr[data-key="visits"] .mf-type').inner_text() == "Map"
        assert storage.locator('tr[data-key="tags"] .mf-value').inner_text().startswith("Set(3)")

        timeline = page.locator(".mf-timeline").first
        conflict = timeline.locator('rect[data-outcome="conflict"]')
        retry = timeline.locator("rect[data-retry-of]")
        conflict.first.wait_for(timeout=TIMEOUT_MS)
        retry.first.wait_for(timeout=TIMEOUT_MS)
        assert conflict.count() >= 1
        assert retry.count() >= 1
        replaced = retry.first.get_attribute("data-retry-of")
        assert timeline.locator(f'rect[data-txn-id="{replaced}"]').get_attribute("data-outcome") == "conflict"
        assert timeline.locator(".mf-retry-link").count() >= 1
        assert "count" in timeline.locator(".mf-conflict").first.get_attribute("data-keys")

        # Click the first conflicted attempt: the details show its read/write sets and the winner.
        conflict.first.click()
        details = timeline.locator("table.mf-details")
        details.wait_for(timeout=TIMEOUT_MS)
        assert "conflict" in details.inner_text()

        storage.scroll_into_view_if_needed()
        _screenshot(storage, artifacts_dir, "storage-browser.png", saved)
        timeline.scroll_into_view_if_needed()
        _screenshot(timeline, artifacts_dir, "timeline.png", saved)
        _screenshot(page, artifacts_dir, "jupyterlab-widgets.png", saved)
        assert not errors, errors
    finally:
        try:
            _screenshot(page, artifacts_dir, "jupyterlab-last.png", saved)
        finally:
            page.close()
    if os.environ.get("MFBOOK_UPDATE_SCREENSHOTS"):
        target = REPO / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        for path in saved[:2]:
            shutil.copy(path, target / path.name)
