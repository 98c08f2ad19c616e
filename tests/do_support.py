# ruff: noqa: E501 - long lines are JavaScript source inside strings
"""Helpers for the Durable Object end-to-end suites: a worker built from JS snippets.

``object_worker({"name": "JS body"})`` makes a module worker whose Durable Object class
``Test`` (bound as ``TEST``) runs the body of route ``/name`` as
``async (state, storage, env, request, self) => { body }`` and answers with the JSON of its
result, or with status 500 and ``{"error": {"name", "message"}}`` when it throws. Entry
requests go to the object named by the ``name`` query parameter (``"test"`` by default).
"""

from __future__ import annotations

import json
from typing import Any

from mfbook import Miniflare

__all__ = ["call", "object_worker", "start"]


def object_worker(routes: dict[str, str], *, members: str = "", prelude: str = "", alarm: str | None = None) -> str:
    table = ",\n".join(
        f"  {json.dumps(name)}: async (state, storage, env, request, self) => {{\n{body}\n  }}"
        for name, body in routes.items()
    )
    alarm_method = "" if alarm is None else f"  async alarm(info) {{\n{alarm}\n  }}\n"
    return f"""
import {{ DurableObject }} from "cloudflare:workers";
{prelude}
const ROUTES = {{
{table}
}};
const show = (value) => value instanceof Map ? Object.fromEntries(value) : value;
export class Test extends DurableObject {{
  async fetch(request) {{
    const route = ROUTES[new URL(request.url).pathname.slice(1)];
    if (route === undefined) return new Response("no route", {{ status: 404 }});
    try {{
      const value = await route(this.ctx, this.ctx.storage, this.env, request, this);
      if (value instanceof Response) return value;
      return new Response(JSON.stringify(show(value) ?? null));
    }} catch (error) {{
      return new Response(JSON.stringify({{ error: {{ name: error?.name, message: error?.message }} }}), {{ status: 500 }});
    }}
  }}
{members}
{alarm_method}}}
export default {{
  fetch(request, env) {{
    const name = new URL(request.url).searchParams.get("name") ?? "test";
    return env.TEST.get(env.TEST.idFromName(name)).fetch(request);
  }},
}};
"""


def start(routes: dict[str, str], **options: Any) -> Miniflare:
    """A Miniflare running :func:`object_worker` with ``TEST`` bound to ``Test``."""
    worker_options = {key: options.pop(key) for key in ("members", "prelude", "alarm") if key in options}
    return Miniflare(
        script=object_worker(routes, **worker_options), modules=True, durable_objects={"TEST": "Test"}, **options
    )


def call(mf: Miniflare, route: str, name: str = "test") -> Any:
    """Runs a route in object ``name``; returns its JSON (errors come back as ``{"error": ...}``)."""
    separator = "&" if "?" in route else "?"
    response = mf.dispatch_fetch(f"http://localhost/{route}{separator}name={name}")
    return json.loads(response.text())
