"""Runs ``mfbook serve`` in a subprocess for the tests and reads what it prints."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

_URL = re.compile(r"serving on (http://\S+)")


def console_script() -> list[str]:
    """The installed ``mfbook`` console script (beside this interpreter), else ``-m``."""
    script = Path(sys.executable).parent / "mfbook"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "mfbook.serving.cli"]


class ServeProcess:
    """``mfbook serve ARGS`` with its output lines readable as they come."""

    def __init__(self, *args: str, cwd: Path) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [*console_script(), "serve", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first line from now on matching ``pattern``; fails with the output so far."""
        compiled = re.compile(pattern)
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; output: {''.join(self.output)!r}") from None
            if line is None:
                raise AssertionError(f"exited before {pattern!r}; output: {''.join(self.output)!r}")
            match = compiled.search(line)
            if match:
                return match

    def url(self) -> str:
        return self.wait_for(_URL.pattern).group(1)

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C (SIGINT), then the exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
