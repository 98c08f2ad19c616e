"""The emulator thread follows a blocked caller's CPU, and the caller's own CPU mask comes back."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from mfbook import Miniflare
from mfbook.affinity import CpuFollower

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity"), reason="CPU affinity is a Linux feature (no-op elsewhere)"
)

HELLO = 'export default { fetch: () => new Response("hi") }'
ALL_CPUS = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()


def _thread_with_follower() -> tuple[threading.Thread, threading.Event, CpuFollower]:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    assert thread.native_id is not None
    return thread, stop, CpuFollower(thread.native_id)


def test_hold_keeps_the_caller_on_its_cpu_and_moves_the_follower_there() -> None:
    thread, stop, follower = _thread_with_follower()
    try:
        mask = follower.hold()
        try:
            held = os.sched_getaffinity(0)
            assert len(held) == 1
            assert os.sched_getaffinity(thread.native_id or 0) == held
        finally:
            follower.release(mask)
        assert mask == ALL_CPUS
        assert os.sched_getaffinity(0) == ALL_CPUS
    finally:
        stop.set()
        thread.join()


def test_release_restores_a_mask_the_caller_chose_itself() -> None:
    chosen = {max(ALL_CPUS)}  # narrower than ALL_CPUS on any machine with two CPUs or more
    thread, stop, follower = _thread_with_follower()
    os.sched_setaffinity(0, chosen)
    try:
        follower.release(follower.hold())
        assert os.sched_getaffinity(0) == chosen
    finally:
        os.sched_setaffinity(0, ALL_CPUS)
        stop.set()
        thread.join()


def test_a_refused_move_turns_the_follower_off_and_leaves_the_caller_alone() -> None:
    no_such_thread = 2**31 - 1  # above any pid_max: the kernel answers ESRCH
    follower = CpuFollower(no_such_thread)
    assert follower.enabled
    mask = follower.hold()
    follower.release(mask)
    assert mask is None
    assert not follower.enabled
    assert os.sched_getaffinity(0) == ALL_CPUS


def test_blocking_calls_leave_the_callers_mask_as_it_was_and_bring_the_emulator_over() -> None:
    with Miniflare(script=HELLO, modules=True, console=None) as mf:
        assert mf.dispatch_fetch("http://localhost/").text() == "hi"
        assert os.sched_getaffinity(0) == ALL_CPUS
        emulator = mf._loop._thread.native_id
        assert emulator is not None
        assert len(os.sched_getaffinity(emulator)) == 1


def test_turned_off_by_the_environment_variable() -> None:
    code = textwrap.dedent(
        f"""
        import os
        from mfbook import Miniflare
        with Miniflare(script={HELLO!r}, modules=True, console=None) as mf:
            assert mf.dispatch_fetch("http://localhost/").text() == "hi"
            print(len(os.sched_getaffinity(mf._loop._thread.native_id)), len(os.sched_getaffinity(0)))
        """
    )
    environment = {**os.environ, "MFBOOK_CPU_AFFINITY": "0"}
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True)
    cpus = len(ALL_CPUS)
    assert result.stdout.split() == [str(cpus), str(cpus)]
