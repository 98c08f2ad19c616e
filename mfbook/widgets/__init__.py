"""Notebook widgets: a live storage browser and a transaction timeline.

>>> from mfbook.widgets import StorageBrowser, Timeline     # doctest: +SKIP
>>> StorageBrowser(mf, "COUNTER")                          # doctest: +SKIP
>>> Timeline(mf)                                           # doctest: +SKIP

The widgets are anywidget front ends (``storage_browser.js`` after ``storage_sql.js``,
``timeline.js`` after ``timeline_parts.js``) over pure Python view models
(:mod:`.storage_model`, :mod:`.sql_pane`, :mod:`.timeline_model`) fed by the public storage
API and ``mf.trace``. Importing the models does not import anywidget.
"""

from __future__ import annotations

from typing import Any

__all__ = ["StorageBrowser", "Timeline"]


def __getattr__(name: str) -> Any:
    if name == "StorageBrowser":
        from .storage_browser import StorageBrowser

        return StorageBrowser
    if name == "Timeline":
        from .timeline import Timeline

        return Timeline
    raise AttributeError(f"module 'mfbook.widgets' has no attribute {name!r}")
