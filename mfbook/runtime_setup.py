"""Building a runtime from parsed options: backends, limits, worker checks, installation.

:class:`~mfbook.miniflare.Miniflare` calls these when it starts and on ``set_options``; they
hold what "configure the engine" means, apart from the public API that serves requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .backends import BackendConfigError, open_backend
from .errors import ConfigError
from .isolate import IsolateFault, IsolateLimits
from .wrangler import check_migrations

if TYPE_CHECKING:
    from .backends.base import Backend
    from .loop import EmulatorLoop
    from .options import Options
    from .runtime import Runtime
    from .scheduling import Worker

__all__ = ["check_classes", "install", "isolate_limits", "open_backends", "place_objects"]


def open_backends(options: Options) -> tuple[Backend, dict[str, Backend]]:
    """The parent's backend and those of workers with their own ``durable_objects_persist``."""
    opened: list[tuple[Any, Backend]] = []

    def open_once(persist: Any) -> Backend:
        for value, backend in opened:
            if value is persist or (type(value) is type(persist) and value == persist):
                return backend
        try:
            backend = open_backend(persist, redis_prefix=options.redis_prefix, redis_options=options.redis_options)
        except BackendConfigError as error:
            for _, other in opened:
                other.close()
            raise ConfigError(str(error), option="durable_objects_persist") from None
        opened.append((persist, backend))
        return backend

    backend = open_once(options.persist)
    return backend, {name: open_once(value) for name, value in options.worker_persist.items()}


def place_objects(runtime: Runtime, backend: Backend, options: Options, engine: EmulatorLoop) -> None:
    """With Redis, each object runs in one process of those sharing it (mfbook/placement)."""
    from .backends.redis import RedisBackend  # imports redis
    from .placement import Placement

    assert isinstance(backend, RedisBackend) and options.redis_lease_ms is not None
    runtime.placement = Placement(
        backend=backend,
        lease_ms=options.redis_lease_ms,
        engine=engine,
        runtime=runtime,
    )
    backend.fence_for = runtime.placement.fence_for


def isolate_limits(options: Options) -> IsolateLimits:
    return IsolateLimits(cpu_ms=options.cpu_limit_ms, memory_bytes=int(options.memory_limit_mb * 1024 * 1024))


def install(runtime: Runtime, options: Options) -> None:
    """Builds and checks the new workers completely, then switches to them.

    On any error the workers running before keep serving (and nothing is changed).
    """
    limits = isolate_limits(options)
    try:
        prepared = runtime.prepare(options.workers, limits)
    except IsolateFault as fault:
        envelope = fault.envelope
        raise ConfigError(
            f"The worker failed to start: {envelope.get('name')}: {envelope.get('message')}\n"
            f"{envelope.get('stack', '')}",
            option="script",
        ) from None
    try:
        check_classes(prepared, options)
    except BaseException:
        for worker in prepared.values():
            if worker.isolate is not None:
                worker.isolate.close()
        raise
    runtime.limits = limits
    runtime.upstream = options.upstream
    runtime.txn_max_attempts = options.txn_max_attempts
    runtime.wall_limit_ms = options.wall_limit_ms
    runtime.hibernation.idle_ms = options.websocket_hibernation_idle_ms
    if runtime.workers:  # a reload: as on a code update, open WebSockets are disconnected
        runtime.websockets.close_all(1012, "The worker was reloaded.")
    runtime.configure(options.workers, prepared)


def check_classes(workers: dict[str, Worker], options: Options) -> None:
    for worker in workers.values():
        for binding, namespace in worker.spec.namespaces.items():
            target = workers[namespace.script_name]
            assert target.isolate is not None
            classes = target.isolate.info["classes"]
            if namespace.class_name not in classes:
                if namespace.script_name != worker.name:
                    message = (
                        f'Class "{namespace.class_name}" in script "{namespace.script_name}" '
                        f'for Durable Object "{binding}" not found'
                    )
                else:
                    message = f'Class "{namespace.class_name}" for Durable Object "{binding}" not found'
                raise ConfigError(message, option="durable_objects")
    for worker_name, (path, migrations) in options.migrations.items():
        owner = workers[worker_name]
        assert owner.isolate is not None
        bound = {
            binding: namespace.class_name
            for worker in workers.values()
            for binding, namespace in worker.spec.namespaces.items()
            if namespace.script_name == worker_name
        }
        check_migrations(path, worker_name, migrations, classes=owner.isolate.info["classes"], bindings=bound)
