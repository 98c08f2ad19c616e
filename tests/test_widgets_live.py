"""The live-update throttle and the widgets package surface."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from mfbook.widgets.live import Throttle


def test_a_burst_of_pokes_runs_once_then_once_more_for_late_pokes() -> None:
    runs: list[float] = []
    done = threading.Event()

    def action() -> None:
        runs.append(time.monotonic())
        done.set()

    throttle = Throttle(action, interval=0.2)
    for _ in range(100):
        throttle.poke()
    assert done.wait(2)
    done.clear()
    throttle.poke()  # inside the interval: deferred, not dropped
    assert done.wait(2)
    time.sleep(0.3)
    assert len(runs) == 2
    assert runs[1] - runs[0] >= 0.19
    throttle.close()


def test_closed_throttle_ignores_pokes() -> None:
    runs: list[int] = []
    throttle = Throttle(lambda: runs.append(1), interval=0.01)
    throttle.close()
    throttle.poke()
    time.sleep(0.05)
    assert runs == []


def test_a_failing_refresh_does_not_stop_later_runs() -> None:
    calls: list[int] = []

    def action() -> None:
        calls.append(1)
        raise RuntimeError("boom")

    throttle = Throttle(action, interval=0.0)
    throttle.poke()
    time.sleep(0.05)
    throttle.poke()
    time.sleep(0.05)
    assert len(calls) == 2


def test_widgets_package_exports_and_models_import_without_anywidget() -> None:
    import mfbook.widgets

    assert mfbook.widgets.__all__ == ["StorageBrowser", "Timeline"]
    code = (
        "import sys; sys.modules['anywidget'] = None; sys.modules['ipywidgets'] = None\n"
        "import mfbook.widgets.storage_model, mfbook.widgets.timeline_model, mfbook.widgets.values\n"
        "print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr
