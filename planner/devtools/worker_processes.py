"""Start and stop real Celery worker processes (for the job tests and ``manage.py bench_jobs``).

A worker is ``python -m celery -A planner worker`` in its own process group, so it can be
stopped, or SIGKILLed as a whole, like a crashed machine. Linux only (reads ``/proc``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def wait_for(condition: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll ``condition`` until it returns a truthy value (returned) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@dataclass
class WorkerProcess:
    """A running worker: its main process and log file."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def peak_rss_mb(self) -> dict[int, float]:
        """Peak resident memory (VmHWM) of the main process and each pool process, by pid."""
        pids = [self.process.pid, *_children(self.process.pid)]
        return {pid: _peak_rss_mb(pid) for pid in pids}

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Send ``sig`` to the whole process group and wait (SIGKILL after 30 s)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


@contextmanager
def celery_worker_process(
    *, concurrency: int, log_dir: Path, env: Mapping[str, str] | None = None, start_timeout: float = 90
) -> Iterator[WorkerProcess]:
    """Run a prefork worker with ``concurrency`` processes until the block exits."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"worker-{uuid.uuid4().hex[:8]}.log"
    command = [
        sys.executable, "-m", "celery", "-A", "planner", "worker",
        f"--concurrency={concurrency}", "--pool=prefork", "--loglevel=INFO",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-n", f"w-{uuid.uuid4().hex[:8]}@%h",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = WorkerProcess(process, log_path)
        try:
            wait_for(
                lambda: b" ready." in log_path.read_bytes(),
                timeout=start_timeout,
                what=f"worker ({log_path})",
            )
            yield worker
        finally:
            worker.stop()
