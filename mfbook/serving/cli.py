"""The ``mfbook`` console script: ``mfbook serve [SCRIPT] [options]``.

The only module that parses command lines. Options mirror the Python API
(``Miniflare(...)``): ``--modules``, ``--do BINDING=Class[@script]``, ``--binding NAME=VALUE``,
``--config wrangler.toml`` (and ``--env``), ``--persist [PATH]``, the compatibility settings and
limits; plus ``--host``/``--port``, ``--watch`` (reload on file change, storage kept) and
``--cf FILE`` (``request.cf`` of served requests). It prints the URL and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..cf import load_cf_file
from ..errors import MfbookError

__all__ = ["main", "serve_options"]

_POLL_SECONDS = 0.3


def _pair(text: str, flag: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{flag} expects NAME=VALUE, got {text!r}")
    return name, value


def _binding_value(text: str) -> Any:
    """``--binding N=V``: V as JSON when it parses (numbers, objects), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mfbook", description="mfbook: Cloudflare Workers and Durable Objects, locally."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve a worker on 127.0.0.1 over HTTP/1.1 and WebSockets",
        description="Serve a worker to real HTTP and WebSocket clients until Ctrl-C.",
    )
    serve.add_argument("script", nargs="?", help="the worker's script (or its `main` in --config)")
    serve.add_argument(
        "-m",
        "--modules",
        action="store_true",
        default=None,
        help="the script is an ES module worker (default: yes for .mjs or with --config)",
    )
    serve.add_argument(
        "--do",
        action="append",
        default=[],
        metavar="BINDING=Class[@script]",
        help="a Durable Object binding (repeatable)",
    )
    serve.add_argument(
        "-b",
        "--binding",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an env binding; VALUE is parsed as JSON when it can be (repeatable)",
    )
    serve.add_argument(
        "-c", "--config", metavar="WRANGLER_FILE", help="wrangler.toml / wrangler.json(c) of the project"
    )
    serve.add_argument("-e", "--env", metavar="NAME", help="the environment section of --config")
    serve.add_argument(
        "--persist",
        nargs="?",
        const=True,
        default=None,
        metavar="PATH_OR_URL",
        help="keep Durable Object storage: ./.mf/do, a directory, or a redis:// URL",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("-p", "--port", type=int, default=8787, help="port (default 8787; 0 picks a free one)")
    serve.add_argument("-w", "--watch", action="store_true", help="reload when the project's files change")
    serve.add_argument("--cf", metavar="FILE", help="a JSON file holding request.cf for every request")
    serve.add_argument("--compatibility-date", metavar="YYYY-MM-DD")
    serve.add_argument("--compatibility-flag", action="append", default=[], metavar="FLAG")
    serve.add_argument("--cpu-limit-ms", type=float)
    serve.add_argument("--wall-limit-ms", type=float)
    serve.add_argument("--memory-limit-mb", type=float)
    return parser


def serve_options(args: argparse.Namespace) -> dict[str, Any]:
    """``Miniflare(**options)`` for parsed ``serve`` arguments.

    Raises:
        argparse.ArgumentTypeError: A malformed ``NAME=VALUE`` argument.
    """
    options: dict[str, Any] = {}
    if args.script is not None:
        options["script_path"] = args.script
    if args.config is not None:
        options["wrangler_config_path"] = args.config
        if args.env is not None:
            options["environment"] = args.env
    modules = args.modules
    if modules is None and args.script is not None and args.config is None:
        modules = Path(args.script).suffix == ".mjs"
    if modules is not None:
        options["modules"] = modules
    objects: dict[str, Any] = {}
    for text in args.do:
        binding, spec = _pair(text, "--do")
        class_name, _, script_name = spec.partition("@")
        objects[binding] = {"class_name": class_name, "script_name": script_name} if script_name else class_name
    if objects:
        options["durable_objects"] = objects
    bindings = dict(_pair(text, "--binding") for text in args.binding)
    if bindings:
        options["bindings"] = {name: _binding_value(value) for name, value in bindings.items()}
    if args.persist is not None:
        options["durable_objects_persist"] = args.persist
    if args.compatibility_date is not None:
        options["compatibility_date"] = args.compatibility_date
    if args.compatibility_flag:
        options["compatibility_flags"] = list(args.compatibility_flag)
    for name in ("cpu_limit_ms", "wall_limit_ms", "memory_limit_mb"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    return options


def _watched_roots(args: argparse.Namespace) -> list[str]:
    roots = []
    for path in (args.script, args.config):
        if path is not None:
            roots.append(str(Path(path).resolve().parent))
    return roots or ["."]


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _serve(args: argparse.Namespace) -> int:
    from ..miniflare import Miniflare
    from .watch import FileWatcher

    options = serve_options(args)
    cf = load_cf_file(args.cf) if args.cf is not None else None
    # Snapshot the files first: a change made as soon as the URL is printed is still seen.
    watcher = FileWatcher(_watched_roots(args)) if args.watch else None
    mf = Miniflare(**options)
    try:
        handle = mf.serve(port=args.port, host=args.host, cf=cf)
    except OSError as error:
        mf.dispose()
        print(f"mfbook serve: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    print(f"mfbook: serving on {handle.url} (Ctrl-C to stop)", flush=True)
    idle = threading.Event()
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        while not idle.wait(_POLL_SECONDS if watcher is not None else 3600):
            if watcher is not None and watcher.changed():
                try:
                    mf.set_options(**options)
                except MfbookError as error:
                    message = f"mfbook: reload failed, still serving the previous code: {error}"
                    print(message, file=sys.stderr, flush=True)
                else:
                    print("mfbook: reloaded", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        mf.dispose()
    print("mfbook: stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    except MfbookError as error:
        print(f"mfbook {args.command}: {error}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":  # pragma: no cover - `python -m mfbook.serving.cli`
    sys.exit(main())
