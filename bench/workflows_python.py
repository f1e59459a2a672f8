"""The Python side of the workflows runner benchmark (BENCHMARKS.md "Workflows"), with the official client.

    python bench/workflows_python.py URL run N MS          submit a job of N leaves, run it with one runner
    python bench/workflows_python.py URL runner JOB        run until JOB finishes (one runner process)

Task identifiers and inputs are those of `examples/src/bin/workflows_bench.rs` (bench/Fan, bench/Leaf v1.0).
"""

import sys
import time
from uuid import UUID

from tilebox.workflows import Client, ExecutionContext, Task


class Leaf(Task):
    ms: int

    @staticmethod
    def identifier():
        return "bench/Leaf", "v1.0"

    def execute(self, context: ExecutionContext) -> None:
        if self.ms > 0:
            time.sleep(self.ms / 1000)


class Fan(Task):
    n: int
    ms: int

    @staticmethod
    def identifier():
        return "bench/Fan", "v1.0"

    def execute(self, context: ExecutionContext) -> None:
        for _ in range(self.n):
            context.submit_subtask(Leaf(ms=self.ms))


def run_until_finished(client: Client, job_id: UUID) -> None:
    runner = client.runner(tasks=[Fan, Leaf])
    while True:
        runner.run_all()
        if client.jobs().find(job_id).state.name in ("COMPLETED", "FAILED", "CANCELED"):
            return


def main() -> None:
    url, cmd = sys.argv[1], sys.argv[2]
    client = Client(url=url, token="local-dummy-token")
    if cmd == "run":
        n, ms = int(sys.argv[3]), int(sys.argv[4])
        job = client.jobs().submit("bench", Fan(n=n, ms=ms))
        start = time.perf_counter()
        run_until_finished(client, job.id)
        elapsed = time.perf_counter() - start
        print(f"{n + 1} tasks in {elapsed:.3f} s: {elapsed * 1000 / (n + 1):.3f} ms per task")
    elif cmd == "runner":
        run_until_finished(client, UUID(sys.argv[3]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
