"""The shortest complete nestq program: one module, one processor, enqueue a job, print its result.

    python examples/quickstart.py

With no NESTQ_REDIS_URL set, nestq starts its embedded Valkey server under ./.nestq/ (nothing to install).
"""

import asyncio

from framework import Application, Job, Module, QueueModule, process, processor


@processor("greetings", concurrency=5)
class GreetingProcessor:
    @process("greet")
    async def greet(self, job: Job) -> str:
        await job.update_progress(100)
        return f"Hello, {job.data['name']}!"


class AppModule(Module):
    imports = [QueueModule.for_root(), QueueModule.register_queue("greetings")]
    processors = [GreetingProcessor]


async def main() -> None:
    async with Application.create(AppModule) as app:
        await app.start()  # starts the workers of every processor
        job = await app.queue("greetings").add("greet", {"name": "Ada"})
        print(f"job {job.id} ->", await job.wait_until_finished(timeout=10))


if __name__ == "__main__":
    asyncio.run(main())
