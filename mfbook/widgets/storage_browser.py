"""``StorageBrowser``: a live key/value browser of Durable Object storage (anywidget).

Pick a namespace and an object, page through its keys with decoded values, filter by prefix,
edit or delete a key; for a SQLite-backed object, its tables with their schema and paged rows
are shown beside the keys. The table refreshes (throttled) when a commit lands on the shown object,
from JS or Python. Without a widget front end the same page renders as HTML or rich text.
"""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ..trace import TraceEvent
from .frontend import esm
from .live import Throttle
from .sql_model import SqlTablesView
from .static import storage_html, storage_rich, with_fallback
from .storage_model import StorageView

if TYPE_CHECKING:
    from rich.console import Group

    from ..miniflare import Miniflare

__all__ = ["StorageBrowser"]

_HERE = pathlib.Path(__file__).parent
_REFRESH_KINDS = ("storage.commit", "txn.commit", "sql.exec")


class StorageBrowser(anywidget.AnyWidget):
    """A live storage browser for one emulator.

    Args:
        mf: The emulator.
        binding: Namespace to open (default: the first).
        name: Object to open by ``idFromName`` name...
        object_id: ...or by hex id (default: the namespace's first object).
        prefix: Initial key prefix filter.
        page_size: Rows per page.
        names: Object names to show in the picker for ids never seen on the trace.
        live: Refresh on commits (throttled to ``interval`` seconds).
        interval: Minimum seconds between two live refreshes.

    >>> StorageBrowser(mf, "COUNTER", "alice")     # doctest: +SKIP
    """

    _esm = esm("storage_browser.js")
    _css = _HERE / "widgets.css"

    namespaces = traitlets.List(traitlets.Unicode()).tag(sync=True)
    namespace = traitlets.Unicode("").tag(sync=True)
    objects = traitlets.List(traitlets.Dict()).tag(sync=True)
    object_id = traitlets.Unicode("").tag(sync=True)
    prefix = traitlets.Unicode("").tag(sync=True)
    page = traitlets.Dict().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    live = traitlets.Bool(True).tag(sync=True)
    #: SQLite-backed objects: their tables (name, schema, rows), the one shown, and its page.
    tables = traitlets.List(traitlets.Dict()).tag(sync=True)
    table = traitlets.Unicode("").tag(sync=True)
    table_page = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        mf: Miniflare,
        binding: str | None = None,
        name: str | None = None,
        *,
        object_id: str | None = None,
        prefix: str = "",
        page_size: int = 50,
        names: Iterable[str] = (),
        live: bool = True,
        interval: float = 0.2,
    ) -> None:
        super().__init__()
        self._mf = mf
        self._lock = threading.RLock()
        self._dirty_objects = False
        self._table_index = 0
        self.view = StorageView(
            mf, binding=binding, object_name=name, object_id=object_id, prefix=prefix, page_size=page_size, names=names
        )
        self.view.learn_names(mf.trace.events())
        self._throttle = Throttle(self._refresh_live, interval=interval)
        self._unsubscribe = mf.trace.subscribe(self._on_event)
        with self.hold_trait_notifications():
            self.namespaces = self.view.namespaces
            self.namespace = self.view.binding or ""
            self.prefix = prefix
            self.live = live
        self.refresh()
        self.observe(self._on_namespace, names="namespace")
        self.observe(self._on_object, names="object_id")
        self.observe(self._on_prefix, names="prefix")
        self.observe(self._on_table, names="table")
        self.on_msg(self._on_message)

    # ------------------------------------------------------------------ data
    def refresh(self, *, objects: bool = True) -> None:
        """Reads the object list (if ``objects``) and the current page again."""
        with self._lock:
            try:
                if objects or not self.objects:
                    summaries = self.view.objects()
                    if self.view.object_id is None and summaries:
                        self.view.select_object(summaries[0].object_id)
                    self.objects = [{**asdict(summary), "label": summary.label} for summary in summaries]
                self.object_id = self.view.object_id or ""
                page = self.view.page()
                self.page = {
                    "index": page.index,
                    "has_next": page.has_next,
                    "has_previous": page.has_previous,
                    "page_size": self.view.page_size,
                    "rows": [asdict(row) for row in page.rows],
                }
                self._refresh_tables()
                self.status = (
                    f"{len(page.rows)} key{'s' if len(page.rows) != 1 else ''} shown · "
                    f"updated {time.strftime('%H:%M:%S')}"
                )
            except Exception as error:  # noqa: BLE001 - shown in the widget instead of lost on a thread
                self.error = f"{type(error).__name__}: {error}"

    def _refresh_tables(self) -> None:
        """The SQL tables of the shown object and a page of the selected one."""
        storage = self.view.storage()
        if storage is None:
            self.tables, self.table_page = [], {}
            return
        sql = SqlTablesView(storage, page_size=self.view.page_size)
        tables = sql.tables()
        self.tables = [
            {
                "name": table.name,
                "schema": table.schema,
                "rows": table.rows,
                "columns": [asdict(c) for c in table.columns],
            }
            for table in tables
        ]
        names = [table.name for table in tables]
        if self.table not in names:
            self.table = names[0] if names else ""
            self._table_index = 0
        if not self.table:
            self.table_page = {}
            return
        page = sql.page(self.table, self._table_index)
        if not page.rows and page.index > 0:  # rows went away under us: back to the start
            self._table_index = 0
            page = sql.page(self.table, 0)
        self.table_page = {
            "table": page.table,
            "index": page.index,
            "columns": list(page.columns),
            "rows": [list(row) for row in page.rows],
            "has_next": page.has_next,
            "has_previous": page.has_previous,
        }

    def _on_event(self, event: TraceEvent) -> None:
        # Emulator thread: record and poke only (never call mf from here).
        if event.kind not in _REFRESH_KINDS or event.binding != self.view.binding:
            return
        if event.object_name and event.object_id and self.view.name_of(event.object_id) is None:
            self.view.learn_names([event])
        self._dirty_objects = True
        if self.live:
            self._throttle.poke()

    def _refresh_live(self) -> None:
        self._dirty_objects = False
        self.refresh(objects=True)

    # ------------------------------------------------------------------ front end
    def _on_namespace(self, change: dict[str, Any]) -> None:
        with self._lock:
            try:
                self.view.select_namespace(change["new"])
                self.error = ""
            except ValueError as error:
                self.error = str(error)
            self.refresh()

    def _on_object(self, change: dict[str, Any]) -> None:
        with self._lock:
            if change["new"] and change["new"] != self.view.object_id:
                self.view.select_object(change["new"])
                self.refresh(objects=False)

    def _on_prefix(self, change: dict[str, Any]) -> None:
        with self._lock:
            self.view.set_prefix(change["new"])
            self.refresh(objects=False)

    def _on_table(self, change: dict[str, Any]) -> None:
        with self._lock:
            if change["new"] != change["old"]:
                self._table_index = 0
                self.refresh(objects=False)

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        action = content.get("action")
        with self._lock:
            try:
                self.error = ""
                if action == "next":
                    self.view.next_page()
                elif action == "previous":
                    self.view.previous_page()
                elif action == "first":
                    self.view.first_page()
                elif action == "table_next" and self.table_page.get("has_next"):
                    self._table_index += 1
                elif action == "table_previous":
                    self._table_index = max(0, self._table_index - 1)
                elif action == "put":
                    self.view.put(str(content.get("key", "")), str(content.get("text", "")))
                elif action == "delete":
                    self.view.delete(str(content.get("key", "")))
            except Exception as error:  # noqa: BLE001 - a bad edit is shown, not raised into the comm
                self.error = f"{type(error).__name__}: {error}"
            self.refresh(objects=action in ("put", "delete", "refresh"))

    def close(self) -> None:
        """Stops live refresh and closes the widget."""
        self._unsubscribe()
        self._throttle.close()
        super().close()

    # ------------------------------------------------------------------ static renderings
    def snapshot(self) -> dict[str, Any]:
        """What the widget shows now, as plain data (used by the static renderings)."""
        with self._lock:
            label = next((item["label"] for item in self.objects if item["object_id"] == self.object_id), None)
            return {
                "binding": self.namespace,
                "object_id": self.object_id,
                "object_label": label,
                "prefix": self.prefix,
                "page": dict(self.page),
            }

    def _repr_html_(self) -> str:
        return storage_html(self.snapshot())

    def __rich__(self) -> Group:
        return storage_rich(self.snapshot())

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return with_fallback(super()._repr_mimebundle_(**kwargs), self._repr_html_(), self.__rich__())
