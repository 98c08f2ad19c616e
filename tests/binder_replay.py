"""Replays what Binder (repo2docker) does with ``binder/``, then runs notebooks in that session.

repo2docker copies the repository, installs ``apt.txt`` (CI installs ``redis-server``
already), installs ``requirements.txt`` into the session's Python, runs ``postBuild`` from
the copy, and starts every session through ``start``. Here: a copy of the checkout, a fresh
venv with ``binder/requirements.txt``, ``binder/postBuild`` with that venv first on ``PATH``,
and ``binder/start`` wrapping :mod:`notebook_runner` over the notebooks.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "notebook_runner.py"
#: Not part of what Binder sees: local environments, caches, build output.
_SKIP = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "artifacts", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", ".mf"
)


@dataclass
class BinderSession:
    """The result of a replay: executed notebooks and what ``start`` left behind."""

    notebooks: dict[str, Any]
    redis_dir: Path
    start_output: str
    jupyter_config_dir: Path


def _run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-2000:]}{result.stderr[-4000:]}"
        )
    return result.stdout + result.stderr


def replay(work: Path, notebooks: list[str]) -> BinderSession:
    """Builds the Binder environment under ``work`` and executes ``notebooks`` (repo-relative)."""
    repo = work / "repo"
    shutil.copytree(ROOT, repo, ignore=_SKIP)
    env_dir = work / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MFBOOK_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(env_dir)
    python = str(bin_dir / "python")
    _run([python, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"], cwd=repo, env=env, timeout=900)
    jupyter_config_dir = work / "jupyter"  # what postBuild writes to ~/.jupyter on Binder
    env["JUPYTER_CONFIG_DIR"] = str(jupyter_config_dir)
    _run(["binder/postBuild"], cwd=repo, env=env, timeout=900)
    redis_dir = work / "redis"
    env["MFBOOK_REDIS_DIR"] = str(redis_dir)
    out_dir = work / "executed"
    output = _run(
        ["binder/start", python, str(RUNNER), str(out_dir), *(str(repo / name) for name in notebooks)],
        cwd=repo,
        env=env,
        timeout=900,
    )
    executed = {Path(name).name: nbformat.read(out_dir / Path(name).name, as_version=4) for name in notebooks}
    return BinderSession(
        notebooks=executed, redis_dir=redis_dir, start_output=output, jupyter_config_dir=jupyter_config_dir
    )


def stop_redis(redis_dir: Path) -> bool:
    """Stops the Redis server ``start`` launched; returns whether it was still running."""
    pid_file = redis_dir / "redis.pid"
    if not pid_file.exists():
        return False
    try:
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":  # a manual replay: python tests/binder_replay.py WORK_DIR
    session = replay(Path(sys.argv[1]), ["notebooks/01-quickstart.ipynb"])
    print(session.start_output, stop_redis(session.redis_dir))
