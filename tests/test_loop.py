"""EmulatorLoop: the blocking hand-over to the emulator thread and back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from mfbook.errors import DisposedError
from mfbook.loop import EmulatorLoop


@pytest.fixture
def loop() -> Iterator[EmulatorLoop]:
    emulator = EmulatorLoop(name="test-loop")
    yield emulator
    emulator.close()


def test_post_and_wait_runs_on_the_emulator_thread_and_returns_the_answer(loop: EmulatorLoop) -> None:
    seen: list[str] = []

    def start(answer: Callable[[str], None]) -> None:
        seen.append(threading.current_thread().name)
        answer("done")

    assert loop.post_and_wait(start) == "done"
    assert seen == ["test-loop"]


def test_the_first_answer_wins(loop: EmulatorLoop) -> None:
    def start(answer: Callable[[int], None]) -> None:
        answer(1)
        answer(2)

    assert loop.post_and_wait(start) == 1


def test_an_answer_given_in_a_later_turn_wakes_the_caller(loop: EmulatorLoop) -> None:
    def start(answer: Callable[[str], None]) -> None:
        loop.loop.call_later(0.05, answer, "later")

    assert loop.post_and_wait(start) == "later"


def test_many_threads_each_get_their_own_answer(loop: EmulatorLoop) -> None:
    results: dict[int, int] = {}

    def caller(number: int) -> None:
        for round_ in range(50):
            value = number * 1000 + round_
            results[number] = loop.post_and_wait(lambda answer, value=value: answer(value))  # type: ignore[misc]
            assert results[number] == value

    threads = [threading.Thread(target=caller, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {number: number * 1000 + 49 for number in range(6)}


def test_post_and_wait_from_the_emulator_thread_is_refused(loop: EmulatorLoop) -> None:
    def nested() -> str:
        try:
            loop.post_and_wait(lambda answer: answer(None))
        except RuntimeError as error:
            return str(error)
        return "no error"

    assert "emulator thread" in loop.call(nested)


def test_post_and_wait_after_close_raises_disposed_error() -> None:
    emulator = EmulatorLoop(name="test-closed")
    emulator.close()
    with pytest.raises(DisposedError):
        emulator.post_and_wait(lambda answer: answer(None))


def test_an_error_raised_by_start_reaches_the_caller_and_the_loop_lives_on(loop: EmulatorLoop) -> None:
    def start(answer: Callable[[None], None]) -> None:
        raise ValueError("broken start")

    with pytest.raises(ValueError, match="broken start"):
        loop.post_and_wait(start)
    assert loop.post_and_wait(lambda answer: answer("still here")) == "still here"
