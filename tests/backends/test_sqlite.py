"""SQLite backend specifics: file layout, hostile names, crash safety, two processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mfbook.backends import CommitConflict
from mfbook.backends.base import escape_binding
from mfbook.backends.commit_counter import COUNTER_NAME
from mfbook.backends.sqlite import DATABASE_NAME, SqliteBackend
from mfbook.ids import id_from_name

A = id_from_name("COUNTER", "a").hex
REPO = Path(__file__).resolve().parents[2]

HOSTILE_BINDINGS = [
    "../../escape",
    "/absolute",
    "..",
    ".",
    "",
    "a/b\\c",
    "CON",
    "nul",
    "x\x00y",
    "\U0001f600",
    "\ud800",
    "B" * 400,
    "~",
    "%41",
]
HOSTILE_KEYS = [
    "../../../etc/passwd",
    "/abs",
    "..",
    ".",
    "a\x00b",
    "\x00",
    "CON",
    "NUL",
    "\\\\server\\share",
    "é" * 1024,
    "\ud800\udc00",
    "\udfff",
    "%2F",
    " ",
]


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*")}


def test_object_lives_in_binding_and_hex_directory(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "root")
    backend.open("COUNTER", A).commit(puts={"k": b"v"}, deletes=())
    assert (tmp_path / "root" / "COUNTER" / A / DATABASE_NAME).is_file()


def test_reading_creates_no_files(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path / "root")
    store = backend.open("COUNTER", A)
    assert store.get_many(["k"]) == {}
    assert store.list() == []
    assert store.commit(puts={}, deletes=(), read_keys=["k"], read_version=0) == 0
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("binding", HOSTILE_BINDINGS)
def test_hostile_binding_names_stay_inside_root(tmp_path: Path, binding: str) -> None:
    root = tmp_path / "sandbox" / "root"
    root.mkdir(parents=True)
    backend = SqliteBackend(root)
    object_hex = id_from_name(binding, "x").hex
    store = backend.open(binding, object_hex)
    store.commit(puts={key: key.encode("utf-8", "surrogatepass") for key in HOSTILE_KEYS}, deletes=())
    outside = files_under(tmp_path) - files_under(root) - {root, root.parent}
    assert outside == set()
    (binding_dir,) = [path for path in root.iterdir() if path.name != COUNTER_NAME]
    assert binding_dir.name == escape_binding(binding)
    assert backend.list_objects(binding) == [object_hex]
    backend.close()
    reopened = SqliteBackend(root).open(binding, object_hex)
    assert reopened.get_many(HOSTILE_KEYS) == {key: key.encode("utf-8", "surrogatepass") for key in HOSTILE_KEYS}


def test_distinct_bindings_get_distinct_directories() -> None:
    names = [escape_binding(binding) for binding in HOSTILE_BINDINGS + ["A", "a", "%", "%25"]]
    assert len(set(names)) == len(names)


def test_unwritable_root_raises_backend_unavailable(tmp_path: Path) -> None:
    from mfbook.backends import BackendUnavailable

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = SqliteBackend(blocker / "root").open("COUNTER", A)
    with pytest.raises(BackendUnavailable, match="root"):
        store.commit(puts={"k": b"v"}, deletes=())


WRITER = textwrap.dedent(
    """
    import sys
    from mfbook.backends.sqlite import SqliteBackend
    store = SqliteBackend(sys.argv[1]).open("CRASH", sys.argv[2])
    batch = store.version()
    while True:
        payload = f"{batch}:".encode() + b"x" * 4000
        store.commit(puts={f"b{batch}-{j}": payload for j in range(50)}, deletes=())
        batch += 1
        if batch % 5 == 0:
            print(batch, flush=True)
    """
)


def _check_batches(root: Path, object_hex: str) -> int:
    store = SqliteBackend(root).open("CRASH", object_hex)
    batches: dict[int, set[int]] = {}
    for key, value in store.list():
        batch, index = key[1:].split("-")
        assert value.startswith(f"{batch}:".encode())
        batches.setdefault(int(batch), set()).add(int(index))
    assert all(indexes == set(range(50)) for indexes in batches.values())
    assert sorted(batches) == list(range(len(batches)))
    assert store.version() == len(batches)
    store.close()
    return len(batches)


def test_kill_9_mid_write_leaves_every_batch_all_or_nothing(tmp_path: Path) -> None:
    object_hex = id_from_name("CRASH", "x").hex
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    committed = 0
    for round_number in range(3):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), object_hex],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert process.stdout is not None
        for _ in range(2 + round_number):  # let it commit a few batches
            assert process.stdout.readline()
        time.sleep(0.013 * (round_number + 1))
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        batches = _check_batches(tmp_path, object_hex)
        assert batches > committed
        committed = batches


COUNTER = textwrap.dedent(
    """
    import sys
    from mfbook.backends import CommitConflict
    from mfbook.backends.sqlite import SqliteBackend
    store = SqliteBackend(sys.argv[1]).open("COUNTER", sys.argv[2])
    conflicts = 0
    for _ in range(int(sys.argv[3])):
        while True:
            version = store.version()
            value = int(store.get_many(["n"]).get("n", b"0"))
            try:
                store.commit(puts={"n": str(value + 1).encode()}, deletes=(),
                             read_keys=["n"], read_version=version)
                break
            except CommitConflict:
                conflicts += 1
    print(conflicts)
    """
)


def test_two_processes_read_modify_write_without_lost_updates(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", COUNTER, str(tmp_path), A, "150"],
            stdout=subprocess.PIPE,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    store = SqliteBackend(tmp_path).open("COUNTER", A)
    assert store.get_many(["n"]) == {"n": b"300"}
    assert store.version() == 300


def test_version_is_read_inside_the_write_transaction(tmp_path: Path) -> None:
    first = SqliteBackend(tmp_path).open("COUNTER", A)
    second = SqliteBackend(tmp_path).open("COUNTER", A)
    assert first.commit(puts={"a": b"1"}, deletes=()) == 1
    assert second.commit(puts={"b": b"1"}, deletes=()) == 2
    assert first.commit(puts={"c": b"1"}, deletes=()) == 3
    with pytest.raises(CommitConflict):
        second.commit(puts={"a": b"2"}, deletes=(), read_keys=["a", "c"], read_version=2)


def test_open_connections_are_capped_and_reopen_transparently(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path, max_connections=2)
    stores = [backend.open("COUNTER", id_from_name("COUNTER", str(n)).hex) for n in range(6)]
    for number, store in enumerate(stores):
        store.commit(puts={"n": str(number).encode()}, deletes=())
    assert sum(store.connected for store in stores) <= 2
    for number, store in enumerate(stores):
        assert store.get_many(["n"]) == {"n": str(number).encode()}
    assert sum(store.connected for store in stores) <= 2
    assert len(backend.list_objects("COUNTER")) == 6


def test_databases_from_before_tombstone_compaction_are_upgraded_on_open(tmp_path: Path) -> None:
    import sqlite3

    object_hex = id_from_name("COUNTER", "old").hex
    directory = tmp_path / "do" / "COUNTER" / object_hex
    directory.mkdir(parents=True)
    old = sqlite3.connect(directory / DATABASE_NAME)
    old.executescript(
        """
        PRAGMA journal_mode = WAL;
        CREATE TABLE kv (key BLOB PRIMARY KEY NOT NULL, value BLOB, version INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL,
                           alarm INTEGER, alarm_version INTEGER NOT NULL);
        INSERT INTO meta VALUES (0, 3, NULL, 0);
        INSERT INTO kv VALUES (X'6b', X'31', 3), (X'64', NULL, 2);
        """
    )
    old.close()
    store = SqliteBackend(tmp_path / "do").open("COUNTER", object_hex)
    assert store.get_many(["k", "d"]) == {"k": b"1"}
    assert store.commit(puts={"k": b"2"}, deletes=["d"], read_keys=["d"], read_version=2) == 4
    with pytest.raises(CommitConflict):
        store.commit(puts={}, deletes=(), read_keys=["k"], read_version=3)
    store.close()
