"""The storage browser's view model: namespaces, objects, one page of rows, edits.

Pure Python over the public storage API (no widget code), so it can be tested and reused by
the static renderers. Each object has an *index* (its keys with their sizes, counted up to
``count_limit``) that serves the object picker, the total ("1–50 of 1,234"), sorting by key or
size, the last page and jumping to a key; a page reads only its own values. With
``track_changes=True`` (the live widget) an index is kept until :meth:`StorageView.invalidate`
says its object changed, so a commit recounts only that object.

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
from .values import editable_text, parse_edit, preview, tree, type_label

if TYPE_CHECKING:
    from ..miniflare import Miniflare
    from ..objects import DurableObjectStorage
    from ..stubs import DurableObjectNamespace

__all__ = ["ObjectIndex", "ObjectSummary", "Page", "Row", "StorageView", "durable_object_bindings"]

COUNT_PAGE = 1000
SORTS = ("key", "-key", "size", "-size")


@dataclass(frozen=True)
class ObjectIndex:
    """An object's keys in key order with the bytes of each key plus its encoded value.

    Attributes:
        keys: The keys (the first ``count_limit`` of them).
        sizes: Bytes per key, in the same order.
        capped: Whether the object has more keys than were counted.
    """

    keys: tuple[str, ...]
    sizes: tuple[int, ...]
    capped: bool = False


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
        tree: The value as an expandable tree (containers only), see :func:`.values.tree`.
    """

    key: str
    type: str
    preview: str
    full: str | None
    size: int
    edit: str | None
    tree: dict[str, Any] | None = None


@dataclass(frozen=True)
class Page:
    """A page of rows.

    Attributes:
        index: 0 for the first page.
        rows: The rows, in the view's sort order.
        has_next: Whether keys follow the last row.
        offset: Position of the first row among the matching keys.
        total: Matching keys (a lower bound when ``capped``).
        capped: Whether the object has more keys than were counted.
    """

    index: int
    rows: tuple[Row, ...]
    has_next: bool
    offset: int = 0
    total: int = 0
    capped: bool = False

    @property
    def has_previous(self) -> bool:
        return self.index > 0

    @property
    def range_text(self) -> str:
        """``"1–50 of 1,234"`` (``"0 of 0"`` when empty; ``"1,234+"`` when capped)."""
        total = f"{self.total:,}{'+' if self.capped else ''}"
        if not self.rows:
            return f"0 of {total}"
        return f"{self.offset + 1:,}–{self.offset + len(self.rows):,} of {total}"


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
        tree=tree(value),
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
        track_changes: Keep each object's index until :meth:`invalidate` (the live widget);
            False re-reads it for every page.
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
        track_changes: bool = False,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self._mf = mf
        self._bindings = dict(durable_object_bindings(mf))
        self.page_size = page_size
        self.count_limit = count_limit
        self.track_changes = track_changes
        self._names: dict[str, str] = {}
        self._extra_names = list(names)
        self._indexes: dict[str, ObjectIndex] = {}
        self.recounts = 0  # objects counted so far (a commit should recount one, not all)
        self.binding: str | None = None
        self.object_id: str | None = None
        self.prefix = prefix
        self.sort = "key"
        self.offset = 0
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
        self._indexes.clear()
        namespace = self.namespace()
        for name in self._extra_names:
            self._names[namespace.id_from_name(name).hex] = name
        self.object_id = None
        self.offset = 0
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

    def invalidate(self, object_id: str | None = None) -> None:
        """Forgets the index of ``object_id`` (None: of every object): it changed."""
        if object_id is None:
            self._indexes.clear()
        else:
            self._indexes.pop(object_id, None)

    def objects(self) -> list[ObjectSummary]:
        """The namespace's objects with key counts and sizes (counting stops at the limit)."""
        if self.binding is None:
            return []
        namespace = self.namespace()
        summaries = []
        for object_id in namespace.object_ids():
            index = self.index(object_id)
            summaries.append(
                ObjectSummary(
                    object_id,
                    self.name_of(object_id),
                    len(index.keys),
                    sum(len(key.encode("utf-8")) for key in index.keys) + sum(index.sizes),
                    capped=index.capped,
                )
            )
        return summaries

    def index(self, object_id: str) -> ObjectIndex:
        """The keys and value sizes of ``object_id`` (kept until invalidated when tracking changes)."""
        cached = self._indexes.get(object_id) if self.track_changes else None
        if cached is not None:
            return cached
        namespace = self.namespace()
        storage = namespace.storage(self._id(namespace, object_id))
        keys: list[str] = []
        sizes: list[int] = []
        after: str | None = None
        capped = False
        while len(keys) < self.count_limit:
            limit = min(COUNT_PAGE, self.count_limit - len(keys))
            chunk = storage.list(start_after=after, limit=limit)
            for key, value in chunk.items():
                keys.append(key)
                sizes.append(len(codec.encode(value).encode("utf-8")))
            if len(chunk) < limit:
                break
            after = keys[-1]
        else:
            capped = bool(storage.list(start_after=keys[-1] if keys else None, limit=1))
        self.recounts += 1
        index = ObjectIndex(tuple(keys), tuple(sizes), capped)
        self._indexes[object_id] = index
        return index

    def _id(self, namespace: DurableObjectNamespace, object_id: str) -> DurableObjectId:
        name = self.name_of(object_id)
        return namespace.id_from_name(name) if name is not None else namespace.id_from_string(object_id)

    def select_object(self, object_id: str) -> None:
        """Shows the object with hex id ``object_id`` from its first page."""
        self.object_id = object_id
        self.offset = 0

    def storage(self) -> DurableObjectStorage | None:
        """The selected object's storage, or None when no object is selected."""
        if self.object_id is None:
            return None
        namespace = self.namespace()
        return namespace.storage(self._id(namespace, self.object_id))

    # ------------------------------------------------------------------ filter, sort, paging
    def set_prefix(self, prefix: str) -> None:
        """Filters keys by prefix, back to the first page."""
        self.prefix = prefix
        self.offset = 0

    def set_sort(self, sort: str) -> None:
        """Sorts by ``"key"``, ``"-key"`` (descending), ``"size"`` or ``"-size"`` (largest first).

        Raises:
            ValueError: An unknown sort.
        """
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        self.sort = sort
        self.offset = 0

    def matching(self) -> list[tuple[str, int]]:
        """``(key, size)`` of the selected object's keys that match the prefix, in sort order."""
        if self.object_id is None:
            return []
        index = self.index(self.object_id)
        entries = [
            (key, size) for key, size in zip(index.keys, index.sizes, strict=True) if key.startswith(self.prefix)
        ]
        if self.sort == "-key":
            entries.reverse()
        elif self.sort in ("size", "-size"):
            entries.sort(key=lambda entry: entry[1], reverse=self.sort == "-size")
        return entries

    @property
    def page_index(self) -> int:
        return self.offset // self.page_size

    def page(self) -> Page:
        """The current page: positions from the index, values read now from storage."""
        storage = self.storage()
        if storage is None:
            return Page(0, (), False)
        entries = self.matching()
        if self.offset >= len(entries) and self.offset > 0:  # the page emptied under us: step back
            self.offset = max(0, (len(entries) - 1) // self.page_size * self.page_size)
        keys = [key for key, _ in entries[self.offset : self.offset + self.page_size]]
        values = storage.get(keys) if keys else {}
        rows = tuple(row_for(key, values[key]) for key in keys if key in values)
        capped = self.index(self.object_id).capped if self.object_id is not None else False
        return Page(
            self.page_index,
            rows,
            self.offset + self.page_size < len(entries),
            offset=self.offset,
            total=len(entries),
            capped=capped,
        )

    def next_page(self) -> Page:
        """Moves to the next page (stays when there is none) and returns it."""
        if self.offset + self.page_size < len(self.matching()):
            self.offset += self.page_size
        return self.page()

    def previous_page(self) -> Page:
        """Moves to the previous page (stays on the first) and returns it."""
        self.offset = max(0, self.offset - self.page_size)
        return self.page()

    def first_page(self) -> Page:
        self.offset = 0
        return self.page()

    def last_page(self) -> Page:
        """Moves to the page holding the last matching key."""
        total = len(self.matching())
        self.offset = max(0, (total - 1) // self.page_size * self.page_size)
        return self.page()

    def jump_to(self, key: str) -> Page:
        """Moves to the page holding ``key`` (in key order: the first key at or after it).

        Raises:
            ValueError: No matching key is at or after ``key`` (or, sorted by size, it is absent).
        """
        entries = self.matching()
        if self.sort == "key":
            position = next((index for index, (name, _) in enumerate(entries) if name >= key), None)
        elif self.sort == "-key":
            position = next((index for index, (name, _) in enumerate(entries) if name <= key), None)
        else:
            position = next((index for index, (name, _) in enumerate(entries) if name == key), None)
        if position is None:
            raise ValueError(f"no key {key!r} (or after it) in this object")
        self.offset = position // self.page_size * self.page_size
        return self.page()

    # ------------------------------------------------------------------ edits
    def put(self, key: str, text: str, *, kind: str | None = None) -> Any:
        """Stores the value written in ``text``; returns it.

        Args:
            key: The key.
            text: JSON or a Python literal; for ``kind`` ``"Date"`` an ISO date, for ``"Map"`` a
                JSON object or list of ``[key, value]`` pairs, for ``"Set"`` a JSON list.
            kind: The value's JS type when editing an existing Date, Map or Set.

        Raises:
            ValueError: ``text`` does not parse, the key is empty, or no object is selected.
        """
        storage = self._require_storage()
        if not key:
            raise ValueError("the key is empty")
        value = parse_edit(text, kind=kind)
        storage.put(key, value)
        self.invalidate(self.object_id)
        return value

    def delete(self, key: str) -> bool:
        """Deletes ``key`` from the selected object; returns whether it existed."""
        existed = bool(self._require_storage().delete(key))
        self.invalidate(self.object_id)
        return existed

    def _require_storage(self) -> DurableObjectStorage:
        storage = self.storage()
        if storage is None:
            raise ValueError("no object is selected")
        return storage
