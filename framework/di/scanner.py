"""The scanner: walks `imports` from the root module and records every module, provider and export.

It runs no user code. The result, a `ModuleGraph`, answers "which provider does module M see under
token T?", which is all the builder needs to resolve constructor parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from framework.di.interceptors import implicit_interceptors
from framework.di.module import Module, module_name
from framework.di.providers import ProviderSpec, as_spec, describe_token
from framework.errors import CircularDependencyError, ConfigurationError

Declared = Literal["providers", "processors"]


@dataclass(eq=False)
class Binding:
    """A provider as declared by one module; `key` names it in the dependency-injector container."""

    token: object
    spec: ProviderSpec
    module: ModuleNode
    key: str
    declared_in: Declared

    @property
    def name(self) -> str:
        return describe_token(self.token)


@dataclass(eq=False)
class ModuleNode:
    """One module of the application (each module class appears once)."""

    module: type[Module]
    name: str
    key: str
    is_global: bool
    imports: list[ModuleNode] = field(default_factory=list)
    bindings: dict[object, Binding] = field(default_factory=dict)
    exports: dict[object, Binding] = field(default_factory=dict)


@dataclass(eq=False)
class ModuleGraph:
    """Every module reachable from the root, imported modules before their importers."""

    root: ModuleNode
    modules: list[ModuleNode]

    @property
    def global_modules(self) -> list[ModuleNode]:
        return [m for m in self.modules if m.is_global]

    def bindings(self) -> Iterator[Binding]:
        """Every provider of every module, in module order then declaration order."""
        for node in self.modules:
            yield from node.bindings.values()

    def visible(self, node: ModuleNode, token: object) -> Binding | None:
        """The provider `node` gets for `token`: its own, an import's export, or a global export."""
        own = node.bindings.get(token)
        if own is not None:
            return own
        for imported in node.imports:
            exported = imported.exports.get(token)
            if exported is not None:
                return exported
        for global_node in self.global_modules:
            exported = global_node.exports.get(token)
            if exported is not None:
                return exported
        return None

    def providers_of(self, token: object) -> list[Binding]:
        """Every binding of `token`, in any module (for `app.get` and for error hints)."""
        return [b for b in self.bindings() if b.token == token]

    def node_of(self, module: type[Module]) -> ModuleNode | None:
        return next((m for m in self.modules if m.module is module), None)


def scan(root: type[Module], overrides: Mapping[object, ProviderSpec] | None = None) -> ModuleGraph:
    """Walk the module tree from `root`.

    Args:
        root: the application's root module.
        overrides: replacement provider specs by token (testing); each must match some provider.

    Raises:
        ConfigurationError: something in a module's lists is not what it should be.
        CircularDependencyError: modules import each other in a loop.
    """
    scanner = _Scanner(dict(overrides or {}))
    root_node = scanner.visit(root, ())
    graph = ModuleGraph(root=root_node, modules=scanner.order)
    # Interceptor classes no module provides are created by the module that uses them (interceptors.py).
    for node, token in implicit_interceptors(graph):
        if graph.visible(node, token) is None:
            scanner._declare(node, [token], "providers")
    unused = [t for t in scanner.overrides if t not in scanner.overridden]
    if unused:
        raise ConfigurationError(
            f"override for {', '.join(describe_token(t) for t in unused)}, which no module of "
            f"{root_node.name} provides; override an existing provider, or add it to a module's providers"
        )
    return graph


class _Scanner:
    def __init__(self, overrides: dict[object, ProviderSpec]) -> None:
        self.overrides = overrides
        self.overridden: set[object] = set()
        self.nodes: dict[type[Module], ModuleNode] = {}
        self.order: list[ModuleNode] = []
        self.keys: set[str] = set()

    def visit(self, module: object, path: tuple[type[Module], ...]) -> ModuleNode:
        if not (isinstance(module, type) and issubclass(module, Module)):
            where = f"{module_name(path[-1])}.imports" if path else "the root module"
            raise ConfigurationError(
                f"{where} holds {module!r}, which is not a Module subclass "
                "(did you forget to call QueueModule.for_root(...) / register_queue(...)?)"
            )
        if module in path:
            cycle = [*path[path.index(module) :], module]
            raise CircularDependencyError(
                "modules import each other in a loop: " + " -> ".join(module_name(m) for m in cycle)
            )
        known = self.nodes.get(module)
        if known is not None:
            return known
        name = module_name(module)
        node = ModuleNode(
            module=module, name=name, key=self._key("module", name), is_global=bool(module.is_global)
        )
        for imported in _as_list(module.imports, f"{name}.imports"):
            node.imports.append(self.visit(imported, (*path, module)))
        self._declare(node, module.providers, "providers")
        self._declare(node, module.processors, "processors")
        self._resolve_exports(node)
        self.nodes[module] = node
        self.order.append(node)
        return node

    def _declare(self, node: ModuleNode, items: object, declared_in: Declared) -> None:
        owner = f"{node.name}.{declared_in}"
        for item in _as_list(items, owner):
            if declared_in == "processors" and not isinstance(item, type):
                raise ConfigurationError(f"{owner} holds {item!r}; list @processor classes there")
            spec = as_spec(item, owner=owner)
            previous = node.bindings.get(spec.token)
            if previous is not None:
                if (
                    previous.spec.kind == "class"
                    and spec.kind == "class"
                    and previous.spec.target is spec.target
                ):
                    continue  # the same class listed in both providers and processors
                raise ConfigurationError(
                    f"{node.name} declares {describe_token(spec.token)} twice "
                    f"({previous.spec!r} in {previous.declared_in}, {spec!r} in {declared_in}); keep one"
                )
            if spec.token in self.overrides:
                self.overridden.add(spec.token)
                spec = self.overrides[spec.token]
            node.bindings[spec.token] = Binding(
                token=spec.token,
                spec=spec,
                module=node,
                key=self._key(node.name, describe_token(spec.token)),
                declared_in=declared_in,
            )

    def _resolve_exports(self, node: ModuleNode) -> None:
        for item in _as_list(node.module.exports, f"{node.name}.exports"):
            if isinstance(item, type) and issubclass(item, Module):
                imported = next((m for m in node.imports if m.module is item), None)
                if imported is None:
                    raise ConfigurationError(
                        f"{node.name} exports the module {module_name(item)} without importing it; "
                        f"add it to {node.name}.imports"
                    )
                node.exports.update(imported.exports)
                continue
            own = node.bindings.get(item)
            if own is not None:
                node.exports[item] = own
                continue
            reexported = next((m.exports[item] for m in node.imports if item in m.exports), None)
            if reexported is None:
                raise ConfigurationError(
                    f"{node.name} exports {describe_token(item)}, which it neither provides nor imports "
                    f"from a module that exports it; add it to {node.name}.providers"
                )
            node.exports[item] = reexported

    def _key(self, *parts: str) -> str:
        base = re.sub(r"\W+", "_", "__".join(parts)).strip("_") or "provider"
        key, n = base, 1
        while key in self.keys:
            n += 1
            key = f"{base}_{n}"
        self.keys.add(key)
        return key


def _as_list(value: object, owner: str) -> list[object]:
    if isinstance(value, list | tuple):
        return list(value)
    raise ConfigurationError(f"{owner} must be a list or tuple, got {value!r}")
