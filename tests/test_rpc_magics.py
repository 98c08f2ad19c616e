"""`%do_call` hands back stubs the notebook shows readably and the user can call."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.getipython import get_ipython
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython

from mfbook.rpc_proxy import RpcStub

WORKER = """import { DurableObject, RpcTarget } from "cloudflare:workers";

class Tally extends RpcTarget {
  constructor() { super(); this.total = 0; }
  add(n) { this.total += n; return this.total; }
}

export class Counter extends DurableObject {
  tally() { return new Tally(); }
}
export default {};
"""


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    ip = start_ipython() or get_ipython()
    assert ip is not None
    ip.run_line_magic("load_ext", "mfbook")
    try:
        ip.run_cell_magic("worker", "--do COUNTER=Counter", WORKER)
        yield ip
    finally:
        ip.run_line_magic("unload_ext", "mfbook")
        for name in ("mf", "tally"):
            ip.user_ns.pop(name, None)


def test_do_call_returns_a_stub_shown_readably(shell: InteractiveShell) -> None:
    result = shell.run_cell("tally = %do_call COUNTER alice tally", store_history=False)
    assert result.success
    tally = shell.user_ns["tally"]
    assert isinstance(tally, RpcStub)
    text = shell.display_formatter.format(tally)[0]["text/plain"]
    assert text.startswith("<RpcStub RpcTarget in COUNTER ") and text.endswith("…>")
    assert tally.add(2) == 2 and tally.add(3) == 5
