"""Binder: the files repo2docker reads, and a replayed session (see binder_replay.py)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from binder_replay import BinderSession

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


def test_binder_installs_redis_and_what_the_notebooks_need() -> None:
    assert BINDER.joinpath("apt.txt").read_text().split() == ["redis-server"]
    requirements = [
        line.split(">=")[0]
        for line in BINDER.joinpath("requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert requirements == ["nbclient", "ipykernel", "pytest"]  # pytest: lesson 8 runs a suite
    for script in ("postBuild", "start"):
        assert os.access(BINDER / script, os.X_OK), f"binder/{script} must be executable"
    assert BINDER.joinpath("start").read_text().rstrip().endswith('exec "$@"')


def test_binder_runs_the_python_ci_runs() -> None:
    # repo2docker reads binder/runtime.txt; the replay's venv uses this interpreter.
    assert BINDER.joinpath("runtime.txt").read_text().strip() == f"python-{sys.version_info[0]}.{sys.version_info[1]}"


def test_start_launches_redis_for_the_session(binder_session: BinderSession) -> None:
    pid = int((binder_session.redis_dir / "redis.pid").read_text())
    os.kill(pid, 0)  # still running: it serves the whole session
    persistence = binder_session.notebooks["06-persistence.ipynb"]
    lines = "".join(output.get("text", "") for cell in persistence.cells for output in cell.get("outputs", []))
    assert re.search(r"Redis at redis://127\.0\.0\.1:\d+/0 \(from the environment\)", lines)


def test_the_readme_launches_jupyterlab_on_the_quickstart() -> None:
    readme = ROOT.joinpath("README.md").read_text()
    links = re.findall(r"https://mybinder\.org/v2/gh/[^)\s]+", readme)
    assert links, "the README has a Binder badge and launch link"
    for link in links:
        assert link.endswith("?urlpath=lab/tree/notebooks/01-quickstart.ipynb")
    assert "https://mybinder.org/badge_logo.svg" in readme


def test_post_build_makes_jupyterlab_on_the_first_lesson_the_default_page(binder_session: BinderSession) -> None:
    config = (binder_session.jupyter_config_dir / "jupyter_server_config.py").read_text()
    urls = re.findall(r'^c\.ServerApp\.default_url = "/lab/tree/(notebooks/[^"]+)"', config, re.M)
    first = sorted(ROOT.joinpath("notebooks").glob("*.ipynb"))[0]
    assert urls == [first.relative_to(ROOT).as_posix()] == ["notebooks/01-quickstart.ipynb"]
