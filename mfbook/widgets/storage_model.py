"""The storage browser's view model: namespaces, objects, one page of rows, edits.

Pure Python over the public storage API (no widget code), so it can be tested and reused by
the static renderers. Pages are read with ``list(start_after=..., limit=page_size + 1)``: an
object with tens of thousands of keys never loads more than a page (plus a capped count).

>>> view = StorageView(mf, binding="COUNTER", object_name="a")   # doctest: +SKIP
>>> [row.key for row in view.page().rows]                        # doctest: +SKIP
['count']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import codec
from ..ids import DurableObjectId
from .values import editable_text, parse_edit, preview, type_label

if TYPE_CHECKING:
    from ..miniflare import Miniflare
    from ..objects import DurableObjectNamespace, DurableObjectStorage

__all__ = ["ObjectSummary", "Page", "Row", "StorageView", "durable_object_bindings"]

COUNT_PAGE = 1000


@dataclass(frozen=True)
class ObjectSummary:
    """One object of a namespace, for the object picker.

    Attributes:
        object_id: Hex id.
        name: The ``idFromName`` name when known (from the trace or given names).
        keys: Number of keys (at most the count limit).
        size: Bytes of keys plus encoded values, over the counted keys.
        capped: Whether counting stopped at the limit (then ``keys`` is a lower bound).
    """

    object_id: str
    name: str | None
    keys: int
    size: int
    capped: bool = False

    @property
    def label(self) -> str:
        """``name`` or a short id, with the key count and size."""
        who = self.name if self.name is not None else self.object_id[:12] + "…"
        count = f"{self.keys}+" if self.capped else str(self.keys)
        return f"{who} · {count} key{'' if self.keys == 1 else 's'} · {_bytes(self.size)}"


@dataclass(frozen=True)
class Row:
    """One key of the table.

    Attributes:
        key: The storage key.
        type: JS type of the value (``"Map"``, ``"string"``...).
        preview: One-line text, cut with ``…`` when long.
        full: The whole text when ``preview`` is cut, else None.
        size: Bytes of the encoded value.
        edit: Text to edit the value with, or None when it cannot be edited as text.
    """

    key: str
    type: str
    preview: str
    full: str | None
    size: int
    edit: str | None


@dataclass(frozen=True)
class Page:
    """A page of rows.

    Attributes:
        index: 0 for the first page.
        rows: The rows, in key order.
        has_next: Whether keys follow the last row.
    """

    index: int
    rows: tuple[Row, ...]
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.index > 0


def _bytes(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024 / 1024:.1f} MiB"


def durable_object_bindings(mf: Miniflare) -> list[tuple[str, str]]:
    """``(binding, worker_name)`` of every Durable Object namespace, entry worker first."""
    return mf.durable_object_bindings()


def row_for(key: str, value: Any) -> Row:
    """The table row for ``key`` holding the decoded ``value``."""
    short, full = preview(value)
    return Row(
        key=key,
        type=type_label(value),
        preview=short,
        full=full,
        size=len(codec.encode(value).encode("utf-8")),
        edit=editable_text(value),
    )


class StorageView:
    """What the storage browser shows: a namespace, an object in it, and a page of its keys.

    Args:
        mf: The emulator.
        binding: Namespace to show (default: the first one).
        object_name: Object to show by ``idFromName`` name...
        object_id: ...or by hex id (default: the first object with data).
        prefix: Only keys starting with this.
        page_size: Rows per page.
        names: Object names to recognise in the picker (names seen on the trace are added).
        count_limit: Stop counting an object's keys after this many (the picker shows ``N+``).
    """

    def __init__(
        self,
        mf: Miniflare,
        *,
        binding: str | None = None,
        object_name: str | None = None,
        object_id: str | None = None,
        prefix: str = "",
        page_size: int = 50,
        names: Iterable[str] = (),
        count_limit: int = 10_000,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._mf = mf
        self._bindings = dict(durable_object_bindings(mf))
        self.page_size = page_size
        self.count_limit = count_limit
        self._names: dict[str, str] = {}
        self._extra_names = list(names)
        self.binding: str | None = None
        self.object_id: str | None = None
        self.prefix = prefix
        self._cursors: list[str | None] = [None]
        if binding is not None or self._bindings:
            self.select_namespace(binding or next(iter(self._bindings)))
        if object_name is not None:
            self.select_object(self.namespace().id_from_name(object_name).hex)
        elif object_id is not None:
            self.select_object(object_id)

    # ------------------------------------------------------------------ namespaces and objects
    @property
    def namespaces(self) -> list[str]:
        return list(self._bindings)

    def namespace(self) -> DurableObjectNamespace:
        if self.binding is None:
            raise ValueError("no Durable Object namespace is configured")
        return self._mf.get_durable_object_namespace(self.binding, worker_name=self._bindings[self.binding])

    def select_namespace(self, binding: str) -> None:
        """Shows ``binding``; selects its first object."""
        if binding not in self._bindings:
            known = ", ".join(self._bindings) or "none"
            raise ValueError(f"no Durable Object binding {binding!r} (bindings: {known})")
        self.binding = binding
        namespace = self.namespace()
        for name in self._extra_names:
            self._names[namespace.id_from_name(name).hex] = name
        self.object_id = None
        self._cursors = [None]
        ids = namespace.object_ids()
        if ids:
            self.select_object(ids[0])

    def learn_names(self, events: Iterable[Any]) -> None:
        """Remembers ``object_name`` of trace events, so objects show by name."""
        for event in events:
            if event.object_id and event.object_name:
                self._names[event.object_id] = event.object_name

    def name_of(self, object_id: str) -> str | None:
        return self._names.get(object_id)

    def objects(self) -> list[ObjectSummary]:
        """The namespace's objects with key counts and sizes (counting stops at the limit)."""
        if self.binding is None:
            return []
        namespace = self.namespace()
        return [self._summary(namespace, object_id) for object_id in namespace.object_ids()]

    def _summary(self, namespace: DurableObjectNamespace, object_id: str) -> ObjectSummary:
        storage = namespace.storage(self._id(namespace, object_id))
        keys = size = 0
        after: str | None = None
        while keys < self.count_limit:
            chunk = storage.list(start_after=after, limit=min(COUNT_PAGE, self.count_limit - keys))
            for key, value in chunk.items():
                size += len(key.encode("utf-8")) + len(codec.encode(value).encode("utf-8"))
            keys += len(chunk)
            if len(chunk) < COUNT_PAGE:
                return ObjectSummary(object_id, self.name_of(object_id), keys, size)
            after = next(reversed(chunk))
        more = bool(storage.list(start_after=after, limit=1))
        return ObjectSummary(object_id, self.name_of(object_id), keys, size, capped=more)

    def _id(self, namespace: DurableObjectNamespace, object_id: str) -> DurableObjectId:
        name = self.name_of(object_id)
        return namespace.id_from_name(name) if name is not None else namespace.id_from_string(object_id)

    def select_object(self, object_id: str) -> None:
        """Shows the object with hex id ``object_id`` from its first page."""
        self.object_id = object_id
        self._cursors = [None]

    def storage(self) -> DurableObjectStorage | None:
        """The selected object's storage, or None when no object is selected."""
        if self.object_id is None:
            return None
        namespace = self.namespace()
        return namespace.storage(self._id(namespace, self.object_id))

    # ------------------------------------------------------------------ paging
    def set_prefix(self, prefix: str) -> None:
        """Filters keys by prefix, back to the first page."""
        self.prefix = prefix
        self._cursors = [None]

    @property
    def page_index(self) -> int:
        return len(self._cursors) - 1

    def page(self) -> Page:
        """The current page, read now from storage."""
        storage = self.storage()
        if storage is None:
            return Page(0, (), False)
        while True:
            found = storage.list(start_after=self._cursors[-1], prefix=self.prefix or None, limit=self.page_size + 1)
            if found or len(self._cursors) == 1:
                break
            self._cursors.pop()  # the page emptied under us: step back
        items = list(found.items())
        rows = tuple(row_for(key, value) for key, value in items[: self.page_size])
        return Page(self.page_index, rows, len(items) > self.page_size)

    def next_page(self) -> Page:
        """Moves to the next page (stays when there is none) and returns it."""
        current = self.page()
        if current.has_next:
            self._cursors.append(current.rows[-1].key)
            return self.page()
        return current

    def previous_page(self) -> Page:
        """Moves to the previous page (stays on the first) and returns it."""
        if len(self._cursors) > 1:
            self._cursors.pop()
        return self.page()

    def first_page(self) -> Page:
        self._cursors = [None]
        return self.page()

    # ------------------------------------------------------------------ edits
    def put(self, key: str, text: str) -> Any:
        """Stores the value written as JSON or a Python literal in ``text``; returns it.

        Raises:
            ValueError: ``text`` does not parse, or no object is selected.
        """
        storage = self._require_storage()
        if not key:
            raise ValueError("the key is empty")
        value = parse_edit(text)
        storage.put(key, value)
        return value

    def delete(self, key: str) -> bool:
        """Deletes ``key`` from the selected object; returns whether it existed."""
        return bool(self._require_storage().delete(key))

    def _require_storage(self) -> DurableObjectStorage:
        storage = self.storage()
        if storage is None:
            raise ValueError("no object is selected")
        return storage
