"""Blocking calls run JavaScript on the caller's thread, under the engine lock.

Runaway code of every kind ends at the CPU budget, Ctrl-C stops it at once, several threads
may call at the same time, threads with small stacks hand their call over, and the caller's
process is left as it was (no CPU affinity change).
"""

from __future__ import annotations

import _thread
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfbook import Interrupted, Miniflare

SCRIPT = """
let counter = 0;
export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/spin") { for (;;) {} }
    if (path === "/regexp") { return new Response(String(/^(a+)+$/.test("a".repeat(40) + "b"))); }
    if (path === "/await-chain") { for (;;) await null; }
    if (path === "/host-loop") {
      const bytes = new Uint8Array(16);
      for (;;) await crypto.subtle.digest("SHA-256", bytes);
    }
    if (path === "/deep") {
      const f = (n) => f(n + 1) + 1;
      try { f(0); } catch (error) { return new Response(error.name); }
    }
    if (path === "/where") { console.log("running"); }
    counter += 1;
    return new Response(String(counter));
  },
};
"""


@pytest.fixture
def mf() -> Iterator[Miniflare]:
    threads: list[str] = []
    instance = Miniflare(
        script=SCRIPT,
        modules=True,
        cpu_limit_ms=300,
        console=lambda level, text: threads.append(threading.current_thread().name),
    )
    instance.console_threads = threads  # type: ignore[attr-defined]
    yield instance
    instance.dispose()


@pytest.mark.parametrize("path", ["/spin", "/regexp", "/await-chain", "/host-loop"])
def test_runaway_code_ends_at_the_cpu_budget_and_the_next_request_works(mf: Miniflare, path: str) -> None:
    started = time.thread_time()  # the JS runs on this thread; other threads' CPU is not ours
    response = mf.dispatch_fetch(f"http://localhost{path}")
    assert response.status == 500
    assert "exceeded CPU time limit (300 ms)" in response.text()
    assert time.thread_time() - started < 3.0
    assert mf.dispatch_fetch("http://localhost/").text() == "1"


def test_the_javascript_of_a_blocking_call_runs_on_the_callers_thread(mf: Miniflare) -> None:
    def call() -> None:
        mf.dispatch_fetch("http://localhost/where")

    worker = threading.Thread(target=call, name="caller-thread")
    worker.start()
    worker.join()
    mf.dispatch_fetch("http://localhost/where")
    assert mf.console_threads == ["caller-thread", threading.current_thread().name]  # type: ignore[attr-defined]


def test_ctrl_c_stops_a_runaway_request_at_once_and_the_emulator_stays_usable() -> None:
    with Miniflare(script=SCRIPT, modules=True, cpu_limit_ms=60_000, console=None) as mf:
        timer = threading.Timer(0.2, _thread.interrupt_main)
        timer.start()
        started = time.monotonic()
        with pytest.raises(Interrupted, match="its JavaScript was stopped"):
            mf.dispatch_fetch("http://localhost/spin")
        assert time.monotonic() - started < 5.0
        assert mf.dispatch_fetch("http://localhost/").text() == "1"


def test_ctrl_c_is_a_keyboard_interrupt_for_scripts() -> None:
    assert issubclass(Interrupted, KeyboardInterrupt)


def test_the_signal_handlers_are_put_back_after_a_call() -> None:
    import signal

    before = (signal.getsignal(signal.SIGINT), signal.set_wakeup_fd(-1))
    signal.set_wakeup_fd(before[1])
    with Miniflare(script=SCRIPT, modules=True, console=None) as mf:
        mf.dispatch_fetch("http://localhost/")
    after_fd = signal.set_wakeup_fd(before[1])
    assert (signal.getsignal(signal.SIGINT), after_fd) == before


def test_several_threads_may_call_at_once(mf: Miniflare) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(50):
            value = int(mf.dispatch_fetch("http://localhost/").text())
            with lock:
                results.append(value)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == list(range(1, 201))


def test_a_thread_with_a_small_stack_hands_its_call_over_and_deep_recursion_still_throws(mf: Miniflare) -> None:
    answers: list[str] = []

    def call() -> None:
        answers.append(mf.dispatch_fetch("http://localhost/deep").text())
        answers.append(mf.dispatch_fetch("http://localhost/").text())

    previous = threading.stack_size(256 * 1024)
    try:
        worker = threading.Thread(target=call)
        worker.start()
    finally:
        threading.stack_size(previous)
    worker.join()
    assert answers == ["RangeError", "1"]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is a Linux API")
def test_the_callers_cpu_affinity_is_left_as_it_was(mf: Miniflare) -> None:
    before = os.sched_getaffinity(0)
    for _ in range(20):
        mf.dispatch_fetch("http://localhost/")
    assert os.sched_getaffinity(0) == before
    emulator = mf._loop._thread.native_id
    assert emulator is not None
    assert os.sched_getaffinity(emulator) == before


def test_a_blocking_call_from_engine_code_is_refused_clearly() -> None:
    errors: list[BaseException] = []
    holder: list[Miniflare] = []

    def console(level: str, text: str) -> None:
        try:
            holder[0].dispatch_fetch("http://localhost/")
        except RuntimeError as error:
            errors.append(error)

    with Miniflare(script=SCRIPT, modules=True, console=console) as mf:
        holder.append(mf)
        mf.dispatch_fetch("http://localhost/where")
    assert len(errors) == 1 and "use the *_async method" in str(errors[0])


def test_the_fallback_mode_without_the_hook_runs_the_whole_kv_api() -> None:
    # Every storage and transaction test, with the binding's time limit instead of the hook.
    here = Path(__file__).parent
    env = dict(os.environ, MFBOOK_INTERRUPT="time-limit")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(here / "test_storage_js.py"),
            str(here / "test_transactions.py"),
            str(here / "test_gates.py"),
            str(here / "test_alarms.py"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
