"""How a sandbox process finds a handler: by its qualified name, `module:qualname`, never by pickling it.

The handler must be a module-level `def` / `async def`, or a method of a module-level class (the child
then calls it on a bare instance of the class: `__init__` is not run, so injected dependencies are not
there). A handler defined in the script being run (`python app.py`) is found by re-running that file
under the name `__mp_main__` (as multiprocessing does), so its `if __name__ == "__main__":` block must
guard the code that starts things.
"""

from __future__ import annotations

import importlib
import inspect
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from framework.queue.sandbox.errors import SandboxError

_HOW = (
    "A sandboxed handler runs in another process, which imports it by name (job data goes over as JSON, "
    "the function itself is never pickled): make it a module-level `def` or `async def` (or a method of a "
    "module-level class), or pass its reference as a 'package.module:function' string"
)


@dataclass(frozen=True)
class HandlerReference:
    """Where the child finds the handler: `ref` is "module:qualname"; `main` the script's path when the
    module is `__main__`."""

    ref: str
    main: str | None = None

    def __str__(self) -> str:
        return self.ref


def handler_reference(handler: Callable[..., Any] | str) -> HandlerReference:
    """The reference of `handler`, checked to lead back to it.

    Raises:
        SandboxError: a lambda, a nested function, a callable object, or a name that does not import.
    """
    if isinstance(handler, str):
        module, _, qualname = handler.partition(":")
        if not module or not qualname:
            raise SandboxError(f"sandboxed handler {handler!r}: expected 'package.module:function'")
        resolve(HandlerReference(handler))  # fails now, not in the child
        return HandlerReference(handler)
    func = getattr(handler, "__func__", handler)  # a bound method: its function
    module = str(getattr(func, "__module__", "") or "")
    qualname = str(getattr(func, "__qualname__", "") or "")
    if not inspect.isfunction(func) or not module or not qualname:
        raise SandboxError(f"sandboxed handler {handler!r} is not a function. {_HOW}.")
    if "<" in qualname:  # <lambda>, <locals>
        raise SandboxError(
            f"sandboxed handler {module}.{qualname} cannot be imported by name ({qualname!r} is a lambda or "
            f"defined inside a function). {_HOW}."
        )
    main = None
    if module == "__main__":
        main = getattr(sys.modules["__main__"], "__file__", None)
        if main is None:
            raise SandboxError(
                f"sandboxed handler {qualname} is defined in an interactive session, which another process "
                f"cannot import. {_HOW}."
            )
        found = _lookup(sys.modules["__main__"], qualname)
    else:
        found = resolve(HandlerReference(f"{module}:{qualname}"))
    if getattr(found, "__func__", found) is not func:
        raise SandboxError(
            f"sandboxed handler {module}:{qualname} does not import as itself (redefined or decorated "
            f"under that name). {_HOW}."
        )
    return HandlerReference(f"{module}:{qualname}", main)


def resolve(reference: HandlerReference) -> Any:
    """Import the object a reference names (in the child, or to check it in the parent)."""
    module_name, _, qualname = reference.ref.partition(":")
    try:
        if module_name == "__main__" and reference.main is not None:
            module = sys.modules.get("__mp_main__")
            if module is None:
                namespace = runpy.run_path(reference.main, run_name="__mp_main__")
                module = type(sys)("__mp_main__")
                module.__dict__.update(namespace)
                sys.modules["__mp_main__"] = module
        else:
            module = importlib.import_module(module_name)
        return _lookup(module, qualname)
    except SandboxError:
        raise
    except Exception as exc:
        raise SandboxError(f"cannot import sandboxed handler {reference.ref!r}: {exc!r}. {_HOW}.") from exc


def _lookup(module: Any, qualname: str) -> Any:
    obj = module
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SandboxError(
                f"sandboxed handler: {getattr(module, '__name__', module)!s} has no {qualname!r}"
            ) from None
    return obj


def callable_for(reference: HandlerReference, bare_instances: dict[type, object]) -> Callable[..., Any]:
    """In the child: the function to call. A plain method (not static) is bound to a bare instance of its
    class (made once, without running `__init__`)."""
    target = resolve(reference)
    _module, _, qualname = reference.ref.partition(":")
    owner_path, _, attr = qualname.rpartition(".")
    if owner_path:
        module_name = reference.ref.partition(":")[0]
        owner_module = sys.modules["__mp_main__" if module_name == "__main__" else module_name]
        owner = _lookup(owner_module, owner_path)
        if isinstance(owner, type) and inspect.isfunction(inspect.getattr_static(owner, attr, None)):
            instance = bare_instances.get(owner)
            if instance is None:
                instance = bare_instances[owner] = object.__new__(owner)
            return getattr(instance, attr)  # type: ignore[no-any-return]
    if not callable(target):
        raise SandboxError(f"sandboxed handler {reference.ref!r} is not callable")
    return target  # type: ignore[no-any-return]
