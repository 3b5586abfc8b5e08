"""An application for the ops CLI tests: two registered queues on the settings' server and prefix."""

from framework.di import Module, QueueModule


class AppModule(Module):
    imports = [QueueModule.for_root(), QueueModule.register_queue("email", "reports")]
