"""The engine's own interrupt handler: installed on this binding, and each mode stops runaway JS."""

from __future__ import annotations

import threading
import time

import pytest
import quickjs

from mfbook.bridge.interrupt import KNOWN_BINDINGS, LayoutError, install_interrupter


def test_the_native_hook_installs_on_the_pinned_binding() -> None:
    # CI guard: the package pins quickjs-ng to the build whose layout the native mode knows.
    from importlib.metadata import version

    assert version("quickjs-ng") in KNOWN_BINDINGS
    interrupter = install_interrupter(quickjs.Context())
    assert (interrupter.mode, interrupter.reason, interrupter.sync_calls) == ("native", "", True)


@pytest.mark.parametrize("mode", ["native", "callback", "time-limit"])
def test_each_mode_stops_an_endless_loop_at_the_deadline_and_runs_again(mode: str) -> None:
    context = quickjs.Context()
    interrupter = install_interrupter(context, mode=mode)
    interrupter.arm(0.1)
    started = time.process_time()
    with pytest.raises(quickjs.JSException, match="interrupted"):
        context.eval("while (true) {}")
    assert time.process_time() - started < 1.0
    interrupter.arm(1.0)
    assert context.eval("1 + 1") == 2


@pytest.mark.parametrize("mode", ["native", "callback"])
def test_a_trip_from_another_thread_stops_the_running_script(mode: str) -> None:
    context = quickjs.Context()
    interrupter = install_interrupter(context, mode=mode)
    interrupter.arm(60.0)
    threading.Timer(0.1, interrupter.trip).start()
    started = time.monotonic()
    with pytest.raises(quickjs.JSException, match="interrupted"):
        context.eval("for (;;) {}")
    assert time.monotonic() - started < 5.0
    assert interrupter.tripped
    interrupter.arm(1.0)
    assert not interrupter.tripped
    assert context.eval("'again'") == "again"


def test_the_time_limit_mode_refuses_nothing_but_cannot_call_the_host() -> None:
    interrupter = install_interrupter(quickjs.Context(), mode="time-limit")
    assert not interrupter.sync_calls
    assert "time-limit" in interrupter.reason


def test_an_unknown_mode_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="MFBOOK_INTERRUPT must be native, callback or time-limit"):
        install_interrupter(quickjs.Context(), mode="fast")


def test_a_context_with_a_binding_time_limit_is_refused_by_the_forced_native_mode() -> None:
    context = quickjs.Context()
    context.set_time_limit(1.0)
    with pytest.raises(LayoutError, match="time limit"):
        install_interrupter(context, mode="native")
