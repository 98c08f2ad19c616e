"""Cloudflare's "Use RpcTarget class to handle Durable Object metadata" example, unchanged.

The documentation (durable-objects/examples/reference-do-name-using-init) shows two variants;
`tests/fixtures/rpc/` holds both with the TypeScript types stripped. What they rely on: an
`RpcTarget` returned by an object method is a stub, calls on the un-awaited result are
pipelined, calls on the stub run in the object (its storage too), the stub's
`Symbol.dispose`, and `id.name` in the caller.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mfbook import Miniflare

FIXTURES = Path(__file__).parent / "fixtures" / "rpc"


@pytest.mark.parametrize("script", ["do_name_init.js", "do_name_init_storage.js"])
def test_the_documentation_example_answers_with_the_objects_name(script: str) -> None:
    lines: list[tuple[str, str]] = []
    with Miniflare(
        script_path=str(FIXTURES / script),
        modules=True,
        durable_objects={"MY_DURABLE_OBJECT": "MyDurableObject"},
        console=lambda level, text: lines.append((level, text)),
    ) as mf:
        response = mf.dispatch_fetch("http://localhost/room-1")
        assert (response.status, response.text()) == (200, "Hello, world! The identifier of this DO is /room-1")
        assert ("log", "{ userName: 'world', durableObjectIdentifier: '/room-1' }") in lines
        assert ("log", "RpcTarget cleaned up.") in lines
        assert not [line for line in lines if line[0] == "error"]
        methods = [r["data"].get("method") for r in mf.trace.records() if r["kind"] == "request.start"]
        assert methods == [
            None,
            "setMetaData",
            "[stub 1].computeMessage",
            "[stub 1].simpleGreeting",
            "[stub 1] (dispose)",
            "[stub 1] (released with request 1)",  # a no-op: the example disposed it already
        ]


def test_the_storage_variant_keeps_the_name_in_the_objects_storage() -> None:
    with Miniflare(
        script_path=str(FIXTURES / "do_name_init_storage.js"),
        modules=True,
        durable_objects={"MY_DURABLE_OBJECT": "MyDurableObject"},
        console=None,
    ) as mf:
        mf.dispatch_fetch("http://localhost/room-2")
        object_id = mf.get_durable_object_namespace("MY_DURABLE_OBJECT").id_from_name("/room-2")
        assert mf.get_durable_object_storage(object_id).get("doIdentifier") == "/room-2"
