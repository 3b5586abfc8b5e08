"""The example services built on nestq: email, reports, notifications and maintenance.

Each service is a package with `module.py` (its `Module`), `processor.py` (the `@processor` consuming its
queue), `service.py` (what other code calls), `schemas.py` (pydantic models) and `tests/`. `users` is the
small user and session store they share; `storage` names their Redis keys.
"""
