"""Executes notebooks with nbclient, two at a time, each in its own process and kernel.

    python notebook_runner.py OUT_DIR NOTEBOOK.ipynb [...]

Each notebook runs with its own directory as the working directory (as Jupyter runs it); the
executed copy goes to ``OUT_DIR/<name>``, with cell errors kept in its outputs and the
execution time in ``metadata.mfbook_seconds``. The exit status is non-zero only when a
notebook could not be executed at all. The Binder replay runs this script under
``binder/start``, with the Python of the replayed environment.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def execute_one(source: Path, target: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(source, as_version=4)
    started = time.monotonic()
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(source.parent)}},
    )
    client.execute()
    notebook.metadata["mfbook_seconds"] = round(time.monotonic() - started, 1)
    nbformat.write(notebook, target)


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["--one"]:
        execute_one(Path(arguments[1]), Path(arguments[2]))
        return 0
    out_dir, sources = Path(arguments[0]), [Path(name).resolve() for name in arguments[1:]]
    out_dir.mkdir(parents=True, exist_ok=True)

    def run(source: Path) -> int:
        command = [sys.executable, __file__, "--one", str(source), str(out_dir / source.name)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            print(f"{source.name} could not be executed:\n{result.stderr[-3000:]}", file=sys.stderr)
        return result.returncode

    with ThreadPoolExecutor(max_workers=2) as pool:
        return max(pool.map(run, sources), default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
