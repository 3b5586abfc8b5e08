"""`Module`: the unit of composition. A subclass lists what it imports, provides and exports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

DISPLAY_NAME_ATTR = "__nestq_display_name__"


class Module:
    """Base class of every module. Subclass it and set the class attributes you need.

    Attributes:
        imports: modules whose exports this module's providers may inject.
        providers: classes (built from their constructor type hints) and `provide(...)` specs.
        processors: `@processor` and `@queue_events_listener` classes of this module (they are
            providers too, so they get injection and lifecycle hooks).
        exports: tokens of this module's providers that importers may inject, or imported modules
            to re-export whole.
        is_global: when true, every module may inject this module's exports without importing it
            (it still has to be imported once, usually by the root module).

    A module is instantiated once per application (its constructor may inject providers too) and
    may define the lifecycle methods `on_module_init`, `on_application_bootstrap`,
    `on_module_destroy` and `on_application_shutdown`; they run after (on start) or before (on stop)
    those of its providers.
    """

    imports: ClassVar[Sequence[type[Module]]] = ()
    providers: ClassVar[Sequence[Any]] = ()
    processors: ClassVar[Sequence[type]] = ()
    exports: ClassVar[Sequence[Any]] = ()
    is_global: ClassVar[bool] = False


def module_name(module: type[Module]) -> str:
    """The name errors and logs use for a module (dynamic modules carry a descriptive one)."""
    name = module.__dict__.get(DISPLAY_NAME_ATTR)
    return name if isinstance(name, str) else module.__qualname__.rsplit("<locals>.", 1)[-1]


def dynamic_module(
    display_name: str,
    *,
    imports: Sequence[type[Module]] = (),
    providers: Sequence[Any] = (),
    exports: Sequence[Any] = (),
    is_global: bool = False,
    base: type[Module] = Module,
    attributes: dict[str, Any] | None = None,
) -> type[Module]:
    """Create a module class at run time (what `QueueModule.for_root(...)` returns).

    Each call makes a new class, so two calls give two modules.
    """
    namespace: dict[str, Any] = {
        "imports": tuple(imports),
        "providers": tuple(providers),
        "exports": tuple(exports),
        "is_global": is_global,
        DISPLAY_NAME_ATTR: display_name,
        "__module__": base.__module__,
        **(attributes or {}),
    }
    return type(base.__name__, (base,), namespace)
