"""Every snippet in the README runs as written, and it links every notebook.

Python blocks and the ``%%worker`` JavaScript cell run in order in one fresh IPython shell (in
a subprocess, from a scratch directory holding ``examples/worker.js``, as if from the repository root); a line
``EXPR  # ... -> VALUE`` also checks that EXPR equals VALUE. The pytest example (the block that
starts with ``# tests/``) runs with the ``# pyproject.toml`` block as its project file.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```$", README, flags=re.MULTILINE | re.DOTALL)
CLAIM = re.compile(r"^(?P<code>[^#=\n]+?)\s+#[^\n]*->\s*(?P<value>.+)$", flags=re.MULTILINE)

SHELL = """
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
for cell in json.load(open(sys.argv[1])):
    result = shell.run_cell(cell, store_history=False)
    if not result.success:
        sys.exit(f"this README cell failed:\\n{cell}\\n{result.error_before_exec or result.error_in_exec!r}")
print("x =", repr(shell.user_ns.get("x")))
"""


def with_claims_checked(code: str) -> str:
    """``EXPR  # comment -> VALUE`` lines become assertions (the comment is a promise)."""
    return CLAIM.sub(lambda m: f"assert ({m['code']}) == {m['value']}, {m['code']!r}", code)


def session_cells() -> list[str]:
    cells = []
    for language, body in BLOCKS:
        if language == "python" and not body.startswith("# tests/"):
            cells.append(with_claims_checked(body) if "%" not in body else body)
        elif language == "javascript" and body.startswith("%%worker"):
            cells.append(body)
    return cells


def scratch_copy(tmp_path: Path) -> Path:
    """A directory standing in for the repository root: ``examples/worker.js`` and nothing else."""
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "worker.js", tmp_path / "examples" / "worker.js")
    return tmp_path


def test_the_readme_has_python_snippets_with_promises() -> None:
    cells = session_cells()
    assert len(cells) >= 4
    assert sum(cell.count("assert (") for cell in cells) >= 2  # the "-> VALUE" comments are checked


def test_every_python_snippet_runs_as_written(tmp_path: Path) -> None:
    cwd = scratch_copy(tmp_path)
    cells_file = tmp_path / "cells.json"
    cells_file.write_text(json.dumps(session_cells()), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", SHELL, str(cells_file)], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "x = 41" in result.stdout  # `x = %do_get COUNTER a count` after `%do_put ... 41`


def test_the_pytest_example_passes(tmp_path: Path) -> None:
    project = scratch_copy(tmp_path)
    [pyproject] = [body for language, body in BLOCKS if language == "toml" and body.startswith("# pyproject.toml")]
    [tests] = [body for language, body in BLOCKS if language == "python" and body.startswith("# tests/")]
    (project / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    path = project / tests.splitlines()[0].removeprefix("# ").strip()
    path.parent.mkdir(parents=True)
    path.write_text(tests, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--color=no"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "4 passed" in result.stdout


def test_the_readme_links_every_notebook() -> None:
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"](notebooks/{notebook.name})" in README, f"the README does not link {notebook.name}"


def test_the_readme_says_which_pythons_it_supports() -> None:
    assert "Python 3.10 and newer" in README
    assert 'requires-python = ">=3.10"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
