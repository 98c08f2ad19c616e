"""The widgets' front-end code: plain ES modules shipped in the package, no build step."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent


@cache
def esm(name: str) -> str:
    """The ES module ``name`` with the shared DOM helper (``dom.js``) in front of it."""
    return (_HERE / "dom.js").read_text("utf-8") + "\n" + (_HERE / name).read_text("utf-8")
