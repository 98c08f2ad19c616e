"""Every usage mistake and engine error surfaces as exactly ``UsageError`` with a clear message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.getipython import get_ipython
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython
from test_magics import COUNTER

from mfbook import UNDEFINED, ConflictError, DisposedError, WorkerError
from mfbook.notebook.cells import WorkerCell
from mfbook.notebook.translate import usage_error


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = start_ipython() or get_ipython()
    assert ip is not None
    ip.run_line_magic("load_ext", "mfbook")
    try:
        yield ip
    finally:
        ip.run_line_magic("unload_ext", "mfbook")
        ip.config.pop("MfbookMagics", None)
        ip.user_ns.pop("mf", None)


@pytest.fixture
def counter(shell: InteractiveShell) -> InteractiveShell:
    shell.run_cell_magic("worker", "--do COUNTER=Counter", COUNTER)
    return shell


def usage(shell: InteractiveShell, magic: str, line: str, cell: str | None = None) -> str:
    """Runs a magic that must fail; returns the message of exactly a UsageError."""
    with pytest.raises(UsageError) as raised:
        if cell is None:
            shell.run_line_magic(magic, line)
        else:
            shell.run_cell_magic(magic, line, cell)
    assert type(raised.value) is UsageError
    return str(raised.value)


def test_magic_before_any_worker_cell(shell: InteractiveShell) -> None:
    message = usage(shell, "do_get", "COUNTER alice count")
    assert message == "no worker yet: define one in a %%worker cell first, e.g. %%worker --do COUNTER=Counter"


def test_run_cell_reports_the_usage_error_without_traceback(shell: InteractiveShell) -> None:
    result = shell.run_cell("%do_get COUNTER alice count", store_history=False)
    assert type(result.error_in_exec) is UsageError


def test_unknown_binding(counter: InteractiveShell) -> None:
    assert usage(counter, "do_get", "NOPE alice count") == (
        "%do_get: unknown Durable Object binding 'NOPE' (bindings: COUNTER) - "
        "add --do NOPE=ClassName to a %%worker cell"
    )


def test_bad_hex_id(counter: InteractiveShell) -> None:
    message = usage(counter, "do_get", "COUNTER --id abc count")
    assert message == (
        "%do_get: Invalid Durable Object ID. Durable Object IDs must be 64 hex digits. "
        "Got 'abc'; list valid ids with %do_ids COUNTER"
    )


def test_id_of_another_namespace(counter: InteractiveShell) -> None:
    message = usage(counter, "do_list", "COUNTER --id " + "0" * 64)
    assert message.startswith("%do_list: Invalid Durable Object ID. The ID does not match this Durable Object class.")


def test_missing_key_and_missing_expression(counter: InteractiveShell) -> None:
    assert "which key?" in usage(counter, "do_get", "COUNTER alice")
    assert usage(counter, "do_put", "COUNTER alice count").startswith("%do_put: usage: %do_put BINDING NAME KEY EXPR")


def test_bad_expression(counter: InteractiveShell) -> None:
    assert usage(counter, "do_put", "COUNTER alice k undefined_name") == (
        "%do_put: cannot evaluate EXPR 'undefined_name': NameError: name 'undefined_name' is not defined"
    )
    assert usage(counter, "do_call", "COUNTER alice add 1 2").startswith("%do_call: cannot evaluate ARGS")


def test_storage_validation_errors(counter: InteractiveShell) -> None:
    counter.user_ns["nothing"] = UNDEFINED
    assert usage(counter, "do_put", "COUNTER alice k nothing") == "%do_put: put() called with undefined value."
    counter.user_ns["big"] = "x" * 3000
    assert usage(counter, "do_put", "COUNTER alice k 1".replace("k", "k" * 2100)) == (
        "%do_put: Keys cannot be larger than 2048 bytes."
    )
    assert usage(counter, "do_list", "COUNTER alice --limit 0") == "%do_list: List limit must be positive."


def test_bad_worker_options(shell: InteractiveShell) -> None:
    body = "export default {}"
    assert usage(shell, "worker", "--do COUNTER", body) == (
        "%%worker: --do 'COUNTER': expected BINDING=Class or BINDING=Class@worker, e.g. --do COUNTER=Counter"
    )
    assert (
        usage(shell, "worker", "--var NOVALUE", body)
        == "%%worker: --var 'NOVALUE': expected KEY=VALUE, e.g. --var GREETING=hello"
    )
    assert "bad worker name" in usage(shell, "worker", "'two words'", body)


def test_bad_quotes_and_headers(counter: InteractiveShell) -> None:
    assert "check the quotes" in usage(counter, "do_fetch", "-d 'open /")
    assert usage(counter, "do_fetch", "-H nocolon /") == "%do_fetch: bad header 'nocolon': write -H 'Name: value'"
    assert usage(counter, "do_fetch", "A B C D").startswith("%do_fetch: usage:")


def test_unknown_option_is_a_usage_error(counter: InteractiveShell) -> None:
    assert "unrecognized arguments: --bogus" in usage(counter, "do_list", "COUNTER alice --bogus")


def test_syntax_error_points_at_the_cell_line_and_keeps_the_old_worker(counter: InteractiveShell) -> None:
    broken = "export default {\n  fetch() {\n    const x = ;\n  }\n}\n"
    message = usage(counter, "worker", "--do COUNTER=Counter", broken)
    assert message == (
        "%%worker: SyntaxError in %%worker worker, cell line 4 (worker.js:3:15): "
        "unexpected token in expression: ';' - fix the cell and run it again.\n"
        "        const x = ;\n"
        "                  ^"
    )


def test_syntax_error_points_at_the_token_not_the_statement(counter: InteractiveShell) -> None:
    broken = "export default {\n  fetch() { return new Response(1 +); },\n};\n"
    message = usage(counter, "worker", "--do COUNTER=Counter", broken)
    assert "(worker.js:2:36): unexpected token in expression: ')'" in message
    assert message.endswith("      fetch() { return new Response(1 +); },\n" + " " * 39 + "^")
    assert counter.run_line_magic("do_fetch", "/?name=a").json() == {"count": 1}


def test_start_failure_maps_the_stack_and_keeps_the_old_worker(counter: InteractiveShell) -> None:
    message = usage(counter, "worker", "--do COUNTER=Counter", "export class Counter {}\nmissing();\n")
    assert message.splitlines() == [
        "%%worker: worker 'worker' failed to start at cell line 3: ReferenceError: missing is not defined - "
        "fix the cell and run it again (the previous version keeps running).",
        "ReferenceError: missing is not defined",
        "    at worker.js:2:1  <- %%worker cell line 3: missing();",
    ]
    assert counter.run_line_magic("do_fetch", "/?name=a").json() == {"count": 1}


def test_missing_class(shell: InteractiveShell) -> None:
    message = usage(shell, "worker", "--do COUNTER=Nope", "export default { fetch: () => new Response('') }")
    assert message == (
        '%%worker: Class "Nope" for Durable Object "COUNTER" not found - '
        "check the --do BINDING=Class[@worker] options and the exported class names."
    )
    assert "mf" not in shell.user_ns


def test_js_error_from_do_call_is_one_block(counter: InteractiveShell) -> None:
    counter.run_cell_magic(
        "worker",
        "--do COUNTER=Counter",
        COUNTER.replace("async later(ms) {", "async later(ms) {\n    throw new RangeError(`bad ${ms}`);"),
    )
    message = usage(counter, "do_call", "COUNTER alice later 5")
    assert message.splitlines() == [
        "%do_call: uncaught JS error in worker 'worker': RangeError: bad 5",
        "    at later (worker.js:15:33)  <- %%worker cell line 16: throw new RangeError(`bad ${ms}`);",
    ]


def test_unknown_rpc_method(counter: InteractiveShell) -> None:
    message = usage(counter, "do_call", "COUNTER alice nope")
    assert message.startswith(
        "%do_call: uncaught JS error in worker 'worker': TypeError: The RPC receiver does not implement"
    )


def test_conflicting_persist_values(shell: InteractiveShell, tmp_path: Path) -> None:
    shell.run_cell_magic(
        "worker", f"a --persist {tmp_path / 'one'}", "export default { fetch: () => new Response('a') }"
    )
    message = usage(
        shell, "worker", f"b --persist {tmp_path / 'two'}", "export default { fetch: () => new Response('b') }"
    )
    assert message.startswith("%%worker: worker cells ask for different --persist values")
    assert shell.run_line_magic("do_fetch", "/").text() == "a"


def test_disposed_emulator(counter: InteractiveShell) -> None:
    counter.user_ns["mf"].dispose()
    assert usage(counter, "do_get", "COUNTER alice count").startswith("the emulator was disposed - run a %%worker cell")


def test_waiting_for_a_worker(shell: InteractiveShell) -> None:
    shell.run_cell_magic("worker", "api --do COUNTER=Counter@store", "export default { fetch: () => new Response('') }")
    assert usage(shell, "do_get", "COUNTER a n") == (
        "the workers are not loaded yet: define worker 'store' in a `%%worker store` cell"
    )


def test_translation_of_conflict_and_disposed_errors() -> None:
    conflict = ConflictError("Transaction gave up after 3 attempts.", object_id="ab", keys=("k",), txn_id=1, attempts=3)
    assert str(usage_error(conflict, magic="do_call")) == (
        "%do_call: Transaction gave up after 3 attempts. Retry it, or write to those keys less often while it runs."
    )
    assert str(usage_error(DisposedError("gone"), magic="do_get")).startswith("%do_get: the emulator was disposed")
    cell = WorkerCell("api", "a\nb\n  c();\n")
    error = WorkerError("TypeError", "x", "TypeError: x\n    at f (worker.js:3:3)\n    at other.js:1:1")
    assert type(usage_error(error, magic="do_call", cell=cell)) is UsageError
    assert str(usage_error(error, magic="do_call", cell=cell)).splitlines()[1:] == [
        "    at f (worker.js:3:3)  <- %%worker api cell line 4: c();",
        "    at other.js:1:1",
    ]
