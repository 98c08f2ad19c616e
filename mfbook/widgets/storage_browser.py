"""``StorageBrowser``: a live key/value browser of Durable Object storage (anywidget).

Pick a namespace and an object, page through its keys with decoded values ("1–50 of 1,234",
last page, jump to a key), sort by key or size, filter by prefix as you type, edit (Date, Map
and Set as their type) or delete a key. The table refreshes (throttled) when a commit lands,
from JS or Python, and recounts only the objects that changed. Without a widget front end the
same page renders as HTML or rich text; in a notebook a static copy sits beside the widget
for exports (see :mod:`.fallback`). A SQLite-backed object's tables show below its keys:
schema, row count and rows by page (see :mod:`.sql_pane`).
"""

from __future__ import annotations

import pathlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ..errors import DisposedError
from ..trace import TraceEvent
from .fallback import StaticFallback
from .frontend import esm
from .live import Throttle
from .sql_pane import SqlPane
from .static import plain_text, storage_html, storage_rich, with_fallback
from .storage_model import StorageView
from .timeline import _shell, show_widget_with_fallback

if TYPE_CHECKING:
    from rich.console import Group

    from ..miniflare import Miniflare

__all__ = ["StorageBrowser"]

_HERE = pathlib.Path(__file__).parent
_REFRESH_KINDS = ("storage.commit", "txn.commit")
DISPOSED = "Emulator disposed — re-run %do_storage (or create a new StorageBrowser) to browse a new one."


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
        others_interval: Objects other than the shown one are recounted (for the picker's key
            counts) at most this often, so a hot object elsewhere costs little.
        clock: Monotonic clock (injectable for tests).

    >>> StorageBrowser(mf, "COUNTER", "alice")     # doctest: +SKIP
    """

    _esm = esm("storage_sql.js", "storage_browser.js")
    _css = _HERE / "widgets.css"

    namespaces = traitlets.List(traitlets.Unicode()).tag(sync=True)
    namespace = traitlets.Unicode("").tag(sync=True)
    objects = traitlets.List(traitlets.Dict()).tag(sync=True)
    object_id = traitlets.Unicode("").tag(sync=True)
    prefix = traitlets.Unicode("").tag(sync=True)
    sort = traitlets.Unicode("key").tag(sync=True)
    page = traitlets.Dict().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    live = traitlets.Bool(True).tag(sync=True)
    disposed = traitlets.Bool(False).tag(sync=True)
    # SQLite-backed objects: their tables, the one shown and its page (see .sql_pane).
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
        others_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._mf = mf
        self._lock = threading.RLock()
        self._changed: set[str] = set()  # ids of objects committed to since the last refresh
        self._stale: set[str] = set()  # changed objects, not shown, whose recount waits
        self._clock = clock
        self.others_interval = others_interval
        self._others_at = clock()
        self.last_result: dict[str, Any] | None = None  # the answer to the last action with an id
        self.view = StorageView(
            mf,
            binding=binding,
            object_name=name,
            object_id=object_id,
            prefix=prefix,
            page_size=page_size,
            names=names,
            track_changes=True,
        )
        self.view.learn_names(mf.trace.events())
        self._sql = SqlPane(page_size=page_size)
        self._interval = interval
        self._throttle = Throttle(self._refresh_live, interval=interval)
        self._unsubscribe = mf.trace.subscribe(self._on_event)
        self.changes = 0  # commits seen (the static fallback's version)
        self._fallback = StaticFallback(
            self._static_pair,
            version=lambda: (self.changes, self.object_id, self.prefix, self.sort, self.table),
            shell=_shell(),
        )
        with self.hold_trait_notifications():
            self.namespaces = self.view.namespaces
            self.namespace = self.view.binding or ""
            self.prefix = prefix
            self.live = live
        self.refresh()
        self.observe(self._on_namespace, names="namespace")
        self.observe(self._on_object, names="object_id")
        self.observe(self._on_prefix, names="prefix")
        self.observe(self._on_sort, names="sort")
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
                    "offset": page.offset,
                    "total": page.total,
                    "capped": page.capped,
                    "range": page.range_text,
                    "rows": [asdict(row) for row in page.rows],
                }
                sql = self._sql.read(self.view.storage())
                self.tables, self.table, self.table_page = sql.tables, sql.table, sql.page
                self.status = f"updated {time.strftime('%H:%M:%S')}"
            except DisposedError:
                self._mark_disposed()
            except Exception as error:  # noqa: BLE001 - shown in the widget instead of lost on a thread
                self.error = f"{type(error).__name__}: {error}"

    def _mark_disposed(self) -> None:
        self.disposed = True
        self.live = False
        self.error = DISPOSED

    def _on_event(self, event: TraceEvent) -> None:
        # Emulator thread: record and poke only (never call mf from here).
        if event.kind == "emulator.dispose":
            self._mark_disposed()
            return
        if event.binding != self.view.binding:
            return
        if event.kind not in _REFRESH_KINDS and not (event.kind == "sql.exec" and event.data.get("rows_written")):
            return
        if event.object_name and event.object_id and self.view.name_of(event.object_id) is None:
            self.view.learn_names([event])
        if event.object_id:
            self._changed.add(event.object_id)
        self.changes += 1
        if self.live:
            self._throttle.poke()

    def _refresh_live(self) -> None:
        started = time.perf_counter()
        with self._lock:
            changed, self._changed = self._changed, set()
            shown = self.view.object_id
            if shown in changed:
                self.view.invalidate(shown)
            self._stale |= changed - {shown}
            now = self._clock()
            if self._stale and now - self._others_at >= self.others_interval:
                for object_id in self._stale:
                    self.view.invalidate(object_id)
                self._stale.clear()
                self._others_at = now
            elif self._stale:  # come back when the other objects are due
                timer = threading.Timer(self.others_interval - (now - self._others_at), self._throttle.poke)
                timer.daemon = True
                timer.start()
            self.refresh(objects=True)
        # Under a flood of commits the refreshes space out (at most a fifth of the time).
        self._throttle.interval = max(self._interval, 5 * (time.perf_counter() - started))

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
                if not self.disposed:
                    self.error = ""  # an error belongs to the object it happened on
                self.refresh(objects=False)

    def _on_prefix(self, change: dict[str, Any]) -> None:
        with self._lock:
            self.view.set_prefix(change["new"])
            self.refresh(objects=False)

    def _on_sort(self, change: dict[str, Any]) -> None:
        with self._lock:
            try:
                self.view.set_sort(change["new"])
            except ValueError as error:
                self.error = str(error)
            self.refresh(objects=False)

    def _on_table(self, change: dict[str, Any]) -> None:
        with self._lock:
            if change["new"] != self._sql.table:
                self._sql.select(change["new"])
                self.refresh(objects=False)

    def _on_message(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        action = str(content.get("action"))
        handler = self._actions.get(action)
        with self._lock:
            if self.disposed:
                return
            error: str | None = None
            try:
                if handler is None:
                    raise ValueError(f"unknown action {action!r}")
                handler(self, content)
                self.error = ""
            except DisposedError:
                self._mark_disposed()
                return
            except Exception as caught:  # noqa: BLE001 - a bad edit is shown, not raised into the comm
                error = f"{type(caught).__name__}: {caught}"
                if action != "put":  # an edit's error shows inline, in the editor that keeps the text
                    self.error = error
            if action == "refresh":
                self.view.invalidate()
            self.refresh(objects=action in ("put", "delete", "refresh"))
            if "id" in content:
                self.last_result = {"type": "result", "id": content["id"], "ok": error is None, "error": error or ""}
                self.send(self.last_result)

    def _put(self, content: dict[str, Any]) -> None:
        kind = content.get("kind")
        self.view.put(str(content.get("key", "")), str(content.get("text", "")), kind=kind if kind else None)

    _actions: dict[str, Any] = {
        "next": lambda self, _: self.view.next_page(),
        "previous": lambda self, _: self.view.previous_page(),
        "first": lambda self, _: self.view.first_page(),
        "last": lambda self, _: self.view.last_page(),
        "jump": lambda self, content: self.view.jump_to(str(content.get("key", ""))),
        "put": _put,
        "delete": lambda self, content: self.view.delete(str(content.get("key", ""))),
        "refresh": lambda self, _: None,
        "sql_next": lambda self, _: self._sql.next_page(),
        "sql_previous": lambda self, _: self._sql.previous_page(),
    }

    def close(self) -> None:
        """Stops live refresh and closes the widget."""
        self._unsubscribe()
        self._throttle.close()
        self._fallback.close()
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
                "sql": {"tables": list(self.tables), "table": self.table, "page": dict(self.table_page)},
            }

    def _repr_html_(self) -> str:
        return storage_html(self.snapshot())

    def __rich__(self) -> Group:
        return storage_rich(self.snapshot())

    def _static_pair(self) -> tuple[str, str]:
        with self._lock:
            if not self.disposed:
                self.refresh(objects=False)
            return self._repr_html_(), plain_text(self.__rich__())

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return with_fallback(super()._repr_mimebundle_(**kwargs), self._repr_html_(), self.__rich__())

    def _ipython_display_(self) -> None:
        """Two outputs: the static fallback (for exports), then the live widget."""
        show_widget_with_fallback(self, self._fallback)
