"""The module system: modules, providers, processors and the Application that runs them.

Decorators only record metadata; the scanner walks the imports, the builder compiles a
`dependency_injector` container, the explorer finds processors and listeners, and `Application`
runs workers and lifecycle hooks.
"""

from framework.di.application import Application, ApplicationContext
from framework.di.connections import ConnectionToken
from framework.di.decorators import (
    inject,
    inject_queue,
    on_active,
    on_completed,
    on_drained,
    on_error,
    on_failed,
    on_progress,
    on_queue_event,
    on_stalled,
    process,
    processor,
    queue_events_listener,
)
from framework.di.flows import inject_flow_producer
from framework.di.interceptors import use_interceptors
from framework.di.metadata import QueueToken
from framework.di.module import Module
from framework.di.providers import ProviderSpec, provide
from framework.di.queue_module import QueueConfig, QueueModule, QueueRegistry, QueueSpec

__all__ = [
    "Application",
    "ApplicationContext",
    "ConnectionToken",
    "Module",
    "ProviderSpec",
    "QueueConfig",
    "QueueModule",
    "QueueRegistry",
    "QueueSpec",
    "QueueToken",
    "inject",
    "inject_flow_producer",
    "inject_queue",
    "on_active",
    "on_completed",
    "on_drained",
    "on_error",
    "on_failed",
    "on_progress",
    "on_queue_event",
    "on_stalled",
    "process",
    "processor",
    "provide",
    "queue_events_listener",
    "use_interceptors",
]
