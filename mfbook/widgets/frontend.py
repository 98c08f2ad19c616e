"""The widgets' front-end code: plain ES modules shipped in the package, no build step."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent


@cache
def esm(*names: str) -> str:
    """One ES module: the shared DOM helper (``dom.js``), then the files ``names`` in order.

    A widget's front end may be several files (parts first, the one exporting ``render``
    last); anywidget loads one module per widget, so they are joined rather than imported.
    """
    return "\n".join((_HERE / name).read_text("utf-8") for name in ("dom.js", *names))
