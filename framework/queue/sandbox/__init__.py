"""Sandboxed handlers: run a job's handler in a pool of worker processes (CPU-bound or crash-prone code).

`Worker(name, handler, sandbox=True)`, `SandboxedHandler(handler)`, or in the module system
`@process("render", sandbox=True)` / `@processor("q", sandbox=True)`. The child process imports the handler
by its qualified name (`module:qualname`) and gets the job as JSON, never pickled. Owns the process pool
(pool.py), the child's main loop (child.py), the wire messages (protocol.py) and the handler reference
(reference.py); it does not touch Redis itself: progress and logs go through the parent's job.
"""

from framework.queue.sandbox.errors import SandboxCrashedError, SandboxError
from framework.queue.sandbox.handler import SandboxedHandler
from framework.queue.sandbox.pool import SandboxPool
from framework.queue.sandbox.reference import handler_reference

__all__ = ["SandboxCrashedError", "SandboxError", "SandboxPool", "SandboxedHandler", "handler_reference"]
