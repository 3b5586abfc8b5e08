"""The builder: resolves every constructor parameter, orders providers, compiles the container.

`build(graph)` checks the whole graph without running user code (a missing provider or a cycle is
reported before anything is constructed) and compiles it into a `dependency_injector`
`DynamicContainer`: classes and plain factories become `Singleton`s, values `Object`s, async and
generator factories `Resource`s. `instantiate(plan)` then initializes the resources and creates
every singleton in dependency order.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args, get_origin

import structlog
from dependency_injector import containers, providers

from framework.di.metadata import Inject, QueueToken
from framework.di.module import Module
from framework.di.providers import describe_target, describe_token, short_name
from framework.di.scanner import Binding, ModuleGraph, ModuleNode
from framework.errors import CircularDependencyError, ConfigurationError, MissingProviderError

log = structlog.get_logger("nestq.di")

MISSING_HINT_ATTR = "__nestq_missing_hint__"
MODULE_HINT_ATTR = "__nestq_missing_dependency_hint__"


@dataclass(frozen=True)
class Dependency:
    """One parameter to inject: where it goes, which token fills it, whether it may be left out."""

    param: str
    token: object
    annotation: str
    positional: bool
    optional: bool


@dataclass(eq=False)
class Unit:
    """Something the container creates: a provider (`binding`) or a module instance."""

    key: str
    node: ModuleNode
    label: str
    binding: Binding | None
    dependencies: list[Dependency]
    resolved: list[tuple[Dependency, Unit]] = field(default_factory=list)
    after: list[Unit] = field(default_factory=list)  # ordering-only edges (module after its providers)

    @property
    def is_resource(self) -> bool:
        return self.binding is not None and self.binding.spec.is_resource


@dataclass(eq=False)
class ContainerPlan:
    """The compiled application: the module graph, the container, and units in creation order."""

    graph: ModuleGraph
    container: containers.DynamicContainer
    units: list[Unit]

    def unit_for(self, binding: Binding) -> Unit:
        return next(u for u in self.units if u.binding is binding)


def build(graph: ModuleGraph) -> ContainerPlan:
    """Resolve and order every provider of `graph` and compile it into a container.

    Raises:
        MissingProviderError: a parameter has no visible provider (the message says what to fix).
        CircularDependencyError: providers depend on each other in a loop (`A -> B -> A`).
        ConfigurationError: a constructor cannot be read (untyped parameter, unresolvable hint).
    """
    units_by_binding: dict[Binding, Unit] = {}
    module_units: dict[ModuleNode, Unit] = {}
    for node in graph.modules:
        for binding in node.bindings.values():
            units_by_binding[binding] = Unit(
                key=binding.key,
                node=node,
                label=binding.name,
                binding=binding,
                dependencies=_binding_dependencies(binding),
            )
        module_units[node] = Unit(
            key=node.key,
            node=node,
            label=node.name,
            binding=None,
            dependencies=dependencies_of(node.module, owner=node.name, is_class=True),
        )
    for node in graph.modules:
        for unit in [*(units_by_binding[b] for b in node.bindings.values()), module_units[node]]:
            for dep in unit.dependencies:
                target = graph.visible(node, dep.token)
                if target is None:
                    if dep.optional:
                        continue
                    raise _missing(graph, unit, dep)
                unit.resolved.append((dep, units_by_binding[target]))
        module_unit = module_units[node]
        module_unit.after.extend(units_by_binding[b] for b in node.bindings.values())
        module_unit.after.extend(module_units[m] for m in node.imports)
    ordered = _topological(
        [u for n in graph.modules for u in (*_units_of(n, units_by_binding), module_units[n])]
    )
    container = containers.DynamicContainer()
    for unit in ordered:
        container.set_provider(unit.key, _compile(unit, container))
    return ContainerPlan(graph=graph, container=container, units=ordered)


async def instantiate(plan: ContainerPlan) -> dict[str, object]:
    """Initialize resources, then create every unit in dependency order; returns instances by key.

    On failure the resources already started are shut down before the error propagates.
    """
    instances: dict[str, object] = {}
    current: Unit | None = None
    try:
        started = plan.container.init_resources()
        if inspect.isawaitable(started):
            await started
        for current in plan.units:
            value = plan.container.providers[current.key]()
            if inspect.isawaitable(value):
                value = await value
            instances[current.key] = value
    except Exception as exc:
        if current is not None:
            exc.add_note(f"while creating {current.label} (module {current.node.name})")
        await shutdown_resources(plan)
        raise
    return instances


async def shutdown_resources(plan: ContainerPlan) -> None:
    """Run the teardown of every initialized resource, dependents first; errors are logged."""
    for unit in reversed(plan.units):
        if not unit.is_resource:
            continue
        provider = plan.container.providers[unit.key]
        if not isinstance(provider, providers.Resource) or not provider.initialized:
            continue
        try:
            result = provider.shutdown()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("resource shutdown failed", provider=unit.label, module=unit.node.name)


def dependencies_of(
    target: Callable[..., Any],
    *,
    owner: str,
    is_class: bool,
    explicit: tuple[object, ...] | None = None,
) -> list[Dependency]:
    """The parameters to inject into `target` (a class's constructor or a factory function)."""
    label = describe_target(target)
    if explicit is not None:
        return [
            Dependency(
                param=f"argument {i}",
                token=tok,
                annotation=describe_token(tok),
                positional=True,
                optional=False,
            )
            for i, tok in enumerate(explicit)
        ]
    function: Any = target
    if is_class:
        init = vars(object)["__init__"]
        function = getattr(target, "__init__", init)
        if function is init:
            return []
        label = f"{label}.__init__"
    signature, hints = _signature_and_hints(function, owner, label)
    params = list(signature.parameters.values())
    if is_class and params:
        params = params[1:]  # self
    deps: list[Dependency] = []
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        has_default = param.default is not param.empty
        if param.name not in hints:
            if has_default:
                continue
            raise ConfigurationError(
                f"{owner}: parameter {param.name!r} of {label} has no type hint, so nothing can be "
                f"injected; annotate it with the class to inject, or Annotated[T, inject(token)]"
            )
        hint = hints[param.name]
        deps.append(
            Dependency(
                param=param.name,
                token=_token_of(hint),
                annotation=_hint_name(hint),
                positional=param.kind == param.POSITIONAL_ONLY,
                optional=has_default,
            )
        )
    return deps


def _signature_and_hints(function: Any, owner: str, label: str) -> tuple[inspect.Signature, dict[str, Any]]:
    """The signature and the evaluated type hints of `function`, or a ConfigurationError saying why not."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"{owner}: cannot read the signature of {label} ({exc}); register it with "
            "provide(token, use_factory=...) instead"
        ) from None
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as exc:
        raise ConfigurationError(
            f"{owner}: cannot evaluate the type hints of {label}: {exc}. Types used in a constructor "
            "must be importable at run time (not only under TYPE_CHECKING), since injection reads them"
        ) from None
    return signature, hints


def _binding_dependencies(binding: Binding) -> list[Dependency]:
    spec = binding.spec
    if spec.kind == "value":
        return []
    owner = binding.module.name
    return dependencies_of(spec.target, owner=owner, is_class=spec.kind == "class", explicit=spec.inject)


def _token_of(hint: Any) -> object:
    if get_origin(hint) is Annotated:
        base, *extras = get_args(hint)
        for extra in extras:
            if isinstance(extra, Inject):
                return extra.token
        hint = base
    if get_origin(hint) in (types.UnionType, typing.Union):
        members = [a for a in get_args(hint) if a is not type(None)]
        if len(members) == 1:
            return _token_of(members[0])
    return hint


def _hint_name(hint: Any) -> str:
    if get_origin(hint) is Annotated:
        base, *extras = get_args(hint)
        marker = next((e for e in extras if isinstance(e, Inject)), None)
        if marker is not None:
            return f"Annotated[{_hint_name(base)}, inject({describe_token(marker.token)})]"
        return _hint_name(base)
    if isinstance(hint, type):
        return short_name(hint)
    return str(hint).replace("typing.", "")


def _units_of(node: ModuleNode, units: dict[Binding, Unit]) -> list[Unit]:
    return [units[b] for b in node.bindings.values()]


def _topological(units: list[Unit]) -> list[Unit]:
    ordered: list[Unit] = []
    state: dict[Unit, Literal["visiting", "done"]] = {}
    stack: list[Unit] = []

    def visit(unit: Unit) -> None:
        mark = state.get(unit)
        if mark == "done":
            return
        if mark == "visiting":
            loop = [*stack[stack.index(unit) :], unit]
            raise CircularDependencyError(_cycle_message(loop))
        state[unit] = "visiting"
        stack.append(unit)
        for _, dep_unit in unit.resolved:
            visit(dep_unit)
        for dep_unit in unit.after:
            visit(dep_unit)
        stack.pop()
        state[unit] = "done"
        ordered.append(unit)

    for unit in units:
        visit(unit)
    return ordered


def _cycle_message(loop: list[Unit]) -> str:
    path = " -> ".join(u.label for u in loop)
    modules = sorted({u.node.name for u in loop})
    where = f" (in {', '.join(modules)})"
    return (
        f"providers depend on each other in a loop: {path}{where}. Break the loop: move the shared "
        "part into a provider both can inject, or pass one of them as a method argument"
    )


def _compile(unit: Unit, container: containers.DynamicContainer) -> providers.Provider[Any]:
    args: list[providers.Provider[Any]] = []
    kwargs: dict[str, providers.Provider[Any]] = {}
    for dep, dep_unit in unit.resolved:
        provider = container.providers[dep_unit.key]
        if dep.positional:
            args.append(provider)
        else:
            kwargs[dep.param] = provider
    if unit.binding is None:
        return providers.Singleton(unit.node.module, *args, **kwargs)
    spec = unit.binding.spec
    if spec.kind == "value":
        return providers.Object(spec.target)
    if spec.is_resource:
        return providers.Resource(spec.target, *args, **kwargs)
    return providers.Singleton(spec.target, *args, **kwargs)


def _missing(graph: ModuleGraph, unit: Unit, dep: Dependency) -> MissingProviderError:
    node = unit.node
    token = dep.token
    name = describe_token(token)
    what = f"module {node.name}" if unit.binding is None else f"{unit.label} (in module {node.name})"
    message = (
        f"cannot create {what}: parameter '{dep.param}: {dep.annotation}' has no provider "
        f"visible from {node.name}. "
    )
    own_hint = node.module.__dict__.get(MODULE_HINT_ATTR)  # a dynamic module's own advice (for_root_async)
    if isinstance(own_hint, str) and not isinstance(getattr(token, MISSING_HINT_ATTR, None), str):
        return MissingProviderError(message + own_hint.format(token=name))
    return MissingProviderError(message + _hint(graph, node, token, name))


def _hint(graph: ModuleGraph, node: ModuleNode, token: object, name: str) -> str:
    if isinstance(token, QueueToken):
        return (
            f"Register the queue: add QueueModule.register_queue({token.name!r}) to {node.name}.imports "
            "(and QueueModule.for_root(...) to the root module's imports)."
        )
    custom = getattr(token, MISSING_HINT_ATTR, None)  # a class's, or a token object's (ConnectionToken)
    if isinstance(custom, str):
        return custom
    elsewhere = graph.providers_of(token)
    if elsewhere:
        owner = elsewhere[0].module
        exported = token in owner.exports
        imported = owner in node.imports
        if exported:
            return f"{owner.name} provides and exports {name}: add {owner.name} to {node.name}.imports."
        if imported:
            return f"{owner.name} provides {name} but does not export it: add {name} to {owner.name}.exports."
        return (
            f"{owner.name} provides {name} without exporting it: add {name} to {owner.name}.exports "
            f"and {owner.name} to {node.name}.imports."
        )
    if isinstance(token, type) and token.__module__ == "builtins":
        return (
            f"{name} is not a provider: use Annotated[{name}, inject('some_token')] and "
            f"provide('some_token', use_value=...) in {node.name}.providers, or give the parameter a default."
        )
    if isinstance(token, type) and issubclass(token, Module):
        return f"{name} is a module; modules are imported, not injected."
    return f"Add {name} to {node.name}.providers, or import a module that provides and exports it."
