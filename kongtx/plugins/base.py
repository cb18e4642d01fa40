"""The plugin API: the handler base class, the request context and the plugin registry.

Plugin authors import from here: :class:`PluginHandler` (the hooks),
:class:`ProxyContext` (what a hook's ``ctx`` is), :class:`CompiledConfig`, and the
type names :data:`PluginConfig` and :data:`HookResult`; the errors a hook
raises are in :mod:`kongtx.errors` and the in-memory testing kit is
:mod:`kongtx.plugins.testing`.

A plugin is a package (bundled ones live in ``kongtx/plugins/<name_with_underscores>/``)
with a ``handler`` module defining one :class:`PluginHandler` subclass (a class named
``Handler`` is taken first, else the one subclass defined there, e.g. ``KeyAuthHandler``)
and a ``schema`` module defining ``CONFIG`` (a schema ``Record`` for
the plugin's ``config``) and optionally ``OPTIONS`` (keyword arguments for
``registry.register_plugin_schema``: ``protocols``, ``no_consumer``...). A
``daos`` module may define ``ENTITIES`` (credential entities, looked up at
request time through the entity cache, :mod:`kongtx.cache`).

Third-party plugins declare an entry point in the ``kongtx.plugins`` group
whose value is the plugin package (``myplugin = my_pkg.my_plugin``); it is
loaded exactly like a bundled one.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Mapping
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Dict, Optional, Protocol, TypeVar, Union

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kongtx.errors import ConfigError

if TYPE_CHECKING:
    from kongtx.bus import NodeBus
    from kongtx.config import Config
    from kongtx.http.connstats import ConnectionStats
    from kongtx.proxy.gateway import Gateway
    from kongtx.proxy.healthcheck import BalancerRegistry
    from kongtx.proxy.snapshot import Snapshot
    from kongtx.ratelimit.policies import CounterPolicies
    from kongtx.store.dao import DAO
    from kongtx.store.snapshot_manager import SnapshotManager
from kongtx.proxy.context import ProxyContext

__all__ = [
    "BodyFilterResult",
    "CompiledConfig",
    "HookResult",
    "PluginConfig",
    "PluginHandler",
    "PluginNode",
    "ProxyContext",
    "LoadedPlugin",
    "PluginSet",
    "load_plugins",
    "bundled_plugins",
]

#: A plugin's ``config`` as validated by its schema (defaults filled in).
PluginConfig = Dict[str, Any]
#: What a phase hook returns: ``None`` when done, or an awaitable to wait for.
HookResult = Optional[Awaitable[None]]
#: What ``body_filter`` returns: the new chunk (``None``: unchanged), or an awaitable of it.
BodyFilterResult = Union[bytes, None, Awaitable[Optional[bytes]]]

log = Logger()

PHASES = ("rewrite", "access", "header_filter", "body_filter", "log")

T = TypeVar("T")


def bundled_plugins() -> tuple[str, ...]:
    """The wire names of the plugins shipped in ``kongtx/plugins/``."""
    import kongtx.plugins as package

    return tuple(
        sorted(
            info.name.replace("_", "-")
            for info in pkgutil.iter_modules(package.__path__)
            if info.ispkg
        )
    )


class CompiledConfig(Dict[str, Any]):
    """A plugin configuration as hooks receive it: the validated ``config`` dict itself
    (read it as before), plus its compiled form built once (:attr:`compiled`, read
    through :meth:`PluginHandler.compiled`)."""

    __slots__ = ("_compiled", "_error")

    def __init__(self, conf: Mapping[str, Any], compiled: Any, error: Exception | None) -> None:
        super().__init__(conf)
        self._compiled = compiled
        self._error = error

    @classmethod
    def of(
        cls, handler: PluginHandler, conf: Mapping[str, Any], plugin: Mapping[str, Any]
    ) -> CompiledConfig:
        """``conf`` with ``handler.compile(conf, plugin)`` (or the error it raised)."""
        try:
            return cls(conf, handler.compile(dict(conf), plugin), None)
        except Exception as exc:  # noqa: BLE001 - raised when a request uses it
            log.failure("plugin {name}: configuration does not compile", name=handler.name)
            return cls(conf, None, exc)

    @property
    def compiled(self) -> Any:
        """The compiled form (raises what compiling raised)."""
        if self._error is not None:
            raise self._error
        return self._compiled


class PluginNode(Protocol):
    """What :meth:`PluginHandler.init_worker` is given: the node of this worker process
    (a :class:`kongtx.service.GatewayNode`, the same for either front-end, a worker
    process and an embedder's ``build_gateway``), its store open, not serving yet."""

    @property
    def reactor(self) -> Any:
        """The reactor (time, TCP/TLS/UDP connections, threads)."""

    @property
    def config(self) -> Config:
        """The node's settings."""

    @property
    def dao(self) -> DAO:
        """The open store."""

    @property
    def counters(self) -> CounterPolicies | None:
        """The rate-limiting counter stores by ``policy`` (set before plugins start)."""

    @property
    def bus(self) -> NodeBus:
        """Messages from worker 0 to the node's other worker processes."""

    @property
    def worker_index(self) -> int:
        """0 in the process serving the Admin API, ``n`` in worker process ``n``."""

    @property
    def node_id(self) -> str:
        """This node's id (Kong's ``kong.node.get_id()``)."""

    # What the metrics plugins read.
    @property
    def gateway(self) -> Gateway:
        """The request pipeline (its request counters)."""

    @property
    def connections(self) -> ConnectionStats:
        """The proxy listeners' connection counters."""

    @property
    def balancers(self) -> BalancerRegistry:
        """The upstreams' balancers and their targets' health."""

    @property
    def snapshots(self) -> SnapshotManager[Snapshot] | None:
        """The configuration snapshot (its build time)."""


class PluginHandler:
    """Base class of plugin handlers.

    Subclasses set :attr:`name`, :attr:`priority` (Kong's numbers) and
    :attr:`version`, and override the phase hooks they need (the ones declared
    here do nothing and are not run). A hook may finish synchronously
    (return ``None``) or return an awaitable; ``rewrite`` and ``access`` end
    the request by raising :class:`kongtx.errors.ProxyExit`.
    """

    name: ClassVar[str] = ""
    priority: ClassVar[int] = 0
    version: ClassVar[str] = "1.0.0"

    def init_worker(self, node: PluginNode) -> None:
        """Called once when the node starts (Kong's ``init_worker``), in every worker
        process, after the store is open and before the node serves: a plugin that
        opens connections, runs timers or keeps node-wide state takes what it needs
        from ``node`` (``node.reactor``, ``node.config``, ``node.counters``...)."""

    def exit_worker(self) -> Deferred[Any] | None:
        """Called once when the node stops: release what :meth:`init_worker` took; may
        return a Deferred (connections closing, a last flush), which the node waits for."""
        return None

    def compile(self, conf: PluginConfig, plugin: Mapping[str, Any] | None = None) -> Any:
        """The compiled form of one configuration (regexes compiled, operations parsed...):
        built once, when the configuration reaches the snapshot, never per request.
        ``plugin`` is the plugin row (its ``route``/``service``/``consumer`` scope);
        None when a test compiles a bare configuration.
        Must not change the handler (one handler serves every configuration). The
        default has nothing to compile. An exception is kept and raised by
        :meth:`compiled` when a request uses that configuration (it answers 500)."""
        return None

    def configure(self, configs: list[dict[str, Any]]) -> None:
        """For a plugin that owns resources per configuration (a log plugin's sink and its
        connection): called with every enabled row of this plugin when the snapshot is
        built and after each change to one of them, to open new ones and close those
        gone. Not for compiling: use :meth:`compile`."""

    def compiled(self, conf: PluginConfig) -> Any:
        """What :meth:`compile` built from ``conf``: free for the configurations the gateway
        hands to hooks (a :class:`CompiledConfig`); compiled on the spot for a plain dict
        (a unit test calling a hook directly)."""
        if type(conf) is CompiledConfig:
            return conf.compiled
        return self.compile(conf)

    # -- phase hooks (Kong's order) -------------------------------------------------
    def rewrite(self, ctx: ProxyContext, conf: PluginConfig) -> HookResult:
        """Before routing (global plugins only): ``ctx.route`` is not known yet."""
        return None

    def access(self, ctx: ProxyContext, conf: PluginConfig) -> HookResult:
        """After routing, before forwarding: authenticate, change the upstream request, exit."""
        return None

    def header_filter(self, ctx: ProxyContext, conf: PluginConfig) -> HookResult:
        """The response head is known (``ctx.response_status``/``ctx.response_headers``)."""
        return None

    def body_filter(
        self, ctx: ProxyContext, conf: PluginConfig, chunk: bytes, eof: bool
    ) -> BodyFilterResult:
        """Each response body chunk (``eof`` on the last); returns the chunk to send instead.

        Streamed chunks must be filtered synchronously; an awaitable result is
        only allowed when :meth:`wants_response_body` asked for the whole body.
        """
        return None

    def log(self, ctx: ProxyContext, conf: PluginConfig) -> HookResult:
        """After the response was sent; failures are logged, never sent."""
        return None

    def admin_routes(self, admin: Any, router: Any) -> None:
        """Add this plugin's Admin API endpoints (``router.add(pattern, {verb: handler})``,
        handlers ``async (AdminRequest, params) -> Response``); ``admin`` is the AdminAPI."""

    def wants_response_body(self, conf: PluginConfig, ctx: ProxyContext | None = None) -> bool:
        """Whether ``body_filter`` needs the whole upstream body at once (``ctx`` has the
        response status and headers)."""
        return False

    def has_hook(self, phase: str) -> bool:
        """Whether this handler overrides the ``phase`` hook."""
        return phase in _defined_hooks(type(self))


def _defined_hooks(cls: type) -> set[str]:
    hooks: set[str] = set()
    for klass in cls.__mro__:
        if klass is PluginHandler:
            break
        hooks.update(p for p in PHASES if p in vars(klass))
    return hooks


class LoadedPlugin:
    """One loaded plugin: its handler, the phases it hooks, and its package."""

    __slots__ = ("name", "handler", "priority", "phases", "hooks", "module")

    def __init__(self, handler: PluginHandler, module: ModuleType) -> None:
        self.name = handler.name
        self.handler = handler
        self.priority = handler.priority
        #: The handler's bound hook methods by phase (only the phases it defines).
        self.hooks: dict[str, Callable[..., Any]] = {
            phase: getattr(handler, phase) for phase in _defined_hooks(type(handler))
        }
        self.phases = frozenset(self.hooks)
        self.module = module


class PluginSet:
    """The plugins enabled on this node, in Kong's run order."""

    def __init__(self, plugins: list[LoadedPlugin]) -> None:
        # Kong: descending priority; equal priorities by name descending.
        self.ordered = sorted(plugins, key=lambda p: (-p.priority, _desc(p.name)))
        self.by_name = {p.name: p for p in self.ordered}

    def available(self) -> dict[str, dict[str, Any]]:
        """``available_on_server`` for ``GET /``."""
        return {
            p.name: {"version": p.handler.version, "priority": p.priority} for p in self.ordered
        }


def _desc(name: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in name)


def _import_plugin(name: str, package: str) -> LoadedPlugin:
    handler_mod = importlib.import_module(f"{package}.handler")
    schema_mod = importlib.import_module(f"{package}.schema")
    try:
        daos_mod: ModuleType | None = importlib.import_module(f"{package}.daos")
    except ModuleNotFoundError as e:
        if e.name != f"{package}.daos":
            raise
        daos_mod = None
    from kongtx.schema import registry

    if daos_mod is not None:
        for entity in getattr(daos_mod, "ENTITIES", ()):
            if not registry.has(entity.name):
                registry.register(entity)
    options = dict(getattr(schema_mod, "OPTIONS", {}))
    registry.register_plugin_schema(name, schema_mod.CONFIG, **options)
    handler = _handler_class(handler_mod)()
    if handler.name != name:
        raise ConfigError(
            f"plugins: package {package} declares plugin '{handler.name}', expected '{name}'"
        )
    return LoadedPlugin(handler, importlib.import_module(package))


def _handler_class(module: ModuleType) -> type[PluginHandler]:
    """The plugin's handler class: ``Handler`` if the module defines one, else its one
    :class:`PluginHandler` subclass (bundled plugins name theirs, e.g. ``KeyAuthHandler``)."""
    named = getattr(module, "Handler", None)
    if isinstance(named, type) and issubclass(named, PluginHandler):
        return named
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, PluginHandler)
        and value.__module__ == module.__name__
        and value.name
    ]
    if len(found) != 1:
        raise ConfigError(
            f"plugins: {module.__name__} must define one PluginHandler subclass "
            f"(found {len(found)})"
        )
    return found[0]


def _third_party() -> dict[str, str]:
    found = entry_points()
    # Python 3.10+ selects by group; 3.9 (PyPy's) returns a dict of groups.
    group = (
        found.select(group="kongtx.plugins")
        if hasattr(found, "select")
        else found.get("kongtx.plugins", ())
    )
    return {ep.name: ep.value for ep in group}


def load_plugins(names: list[str] | tuple[str, ...]) -> PluginSet:
    """Load the plugins named by the ``plugins`` setting.

    ``bundled`` stands for every bundled plugin; ``off`` (or an empty list)
    loads none. Each plugin's schema (and credential entities) is registered in
    the schema registry, and the registry's enabled set is updated.

    :raises ConfigError: for a name that is neither bundled nor installed.
    """
    bundled = bundled_plugins()
    wanted: list[str] = []
    for name in names:
        if name == "bundled":
            wanted.extend(bundled)
        elif name == "off":
            continue
        else:
            wanted.append(name)
    extra = _third_party()
    loaded = []
    for name in dict.fromkeys(wanted):
        if name in bundled:
            package = "kongtx.plugins." + name.replace("-", "_")
        elif name in extra:
            package = extra[name]
        else:
            raise ConfigError(f"plugins: plugin '{name}' is not installed")
        loaded.append(_import_plugin(name, package))
    from kongtx.schema import registry

    registry.set_enabled_plugins([p.name for p in loaded])
    return PluginSet(loaded)
