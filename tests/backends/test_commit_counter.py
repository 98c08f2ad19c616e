"""The shared commit counter that tells file-backed read caches about other writers."""

from __future__ import annotations

from pathlib import Path

from mfbook.backends.commit_counter import COUNTER_NAME, CommitCounter


def test_nothing_committed_yet_is_no_change_and_creates_nothing(tmp_path: Path) -> None:
    counter = CommitCounter(tmp_path / "root")
    assert counter.changed_elsewhere() is False
    assert not (tmp_path / "root").exists()


def test_own_commits_are_not_changes_but_anyone_elses_are(tmp_path: Path) -> None:
    mine, theirs = CommitCounter(tmp_path), CommitCounter(tmp_path)
    mine.bump()
    mine.bump()
    assert mine.changed_elsewhere() is False
    assert theirs.changed_elsewhere() is True  # two commits it did not make
    assert theirs.changed_elsewhere() is False  # reported once
    theirs.bump()
    assert mine.changed_elsewhere() is True
    # A commit elsewhere between two of mine is noticed at my next bump, then reported.
    theirs.bump()
    mine.bump()
    assert mine.changed_elsewhere() is True
    assert mine.changed_elsewhere() is False
    assert (tmp_path / COUNTER_NAME).stat().st_size == 8
    mine.close()
    theirs.close()


def test_a_truncated_counter_file_is_repaired(tmp_path: Path) -> None:
    (tmp_path / COUNTER_NAME).write_bytes(b"\x01")
    counter = CommitCounter(tmp_path)
    counter.bump()
    assert (tmp_path / COUNTER_NAME).stat().st_size == 8
    counter.close()


def test_an_unusable_counter_file_means_every_check_reports_a_change(tmp_path: Path) -> None:
    (tmp_path / COUNTER_NAME).mkdir()  # cannot be opened as a file
    counter = CommitCounter(tmp_path)
    counter.bump()  # does not raise: the commit itself already happened
    assert counter.changed_elsewhere() is True
    assert counter.changed_elsewhere() is True  # caches stay useless, never stale
