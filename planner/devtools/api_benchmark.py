"""API read latency benchmark (``manage.py bench_api``): gunicorn on loopback, wrk as the load.

Serves the app with gunicorn (``planner.wsgi``, the project's ``gunicorn.conf.py``) on a free
loopback port against the configured database, then drives it with ``wrk`` (20 connections by
default) on a succeeded run's results and on the scenario list, authenticated with a read-only
API key of the demo organisation.
Each endpoint is first driven for ``warmup`` seconds, unrecorded (each gunicorn worker imports
the URLconf, opens its database connection and renders a run's document on its first
requests), then measured. Reports p50/p95/p99 latency, requests per second and errors per
endpoint, and the cache backend in use (``CACHE_URL`` is passed on to gunicorn).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from planner.accounts.api_keys import api_key_create
from planner.devtools.demo import DEMO_SCENARIO_NAME, demo_seed
from planner.devtools.worker_processes import ROOT, wait_for
from planner.simulation.models import Scenario, SimulationRun
from planner.simulation.runs import run_create, run_execute

#: wrk prints one JSON line at the end of a run with the figures the report needs.
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "socket_errors": %d, "non_2xx": %d, "p50_ms": %.2f, "p95_ms": %.2f, '
    .. '"p99_ms": %.2f, "requests_per_s": %.1f}\\n',
    summary.requests, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.requests / (summary.duration / 1e6)))
end
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _demo_run() -> SimulationRun:
    """A succeeded run of the demo scenario (simulated in-process if there is none)."""
    scenario = Scenario.objects.filter(name=DEMO_SCENARIO_NAME, product__organization__slug="demo-ai").first()
    if scenario is None:
        demo_seed()
        scenario = Scenario.objects.get(name=DEMO_SCENARIO_NAME, product__organization__slug="demo-ai")
    run = scenario.runs.simulations().filter(status=SimulationRun.Status.SUCCEEDED).first()
    if run is None:
        finished = run_execute(run=run_create(scenario=scenario))
        assert finished.status == SimulationRun.Status.SUCCEEDED, finished.error
        run = finished
    return run


def api_benchmark(
    *, connections: int, seconds: int, workers: int, warmup: int = 3, threads: int = 2
) -> dict[str, Any]:
    """Measure read latency of the run results and the scenario list under ``connections`` clients."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    run = _demo_run()
    _, key = api_key_create(organization=run.organization, name="bench_api", scopes=["read"])
    port = _free_port()
    env = {
        **os.environ,
        "API_THROTTLE_KEY_RATE": "100000000/min",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only",
    }
    env.setdefault("ALLOWED_HOSTS", "127.0.0.1")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "planner.wsgi:application",
            "--config", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers), "--log-level", "warning",
        ],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    endpoints = {
        "run_results": f"/api/v1/runs/{run.pk}/",
        "scenario_list": "/api/v1/scenarios/",
    }
    report: dict[str, Any] = {
        "connections": connections,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "gunicorn_workers": workers,
        "cache": "redis" if env.get("CACHE_URL") else "memory (per process)",
    }
    try:
        wait_for(lambda: _answers(port), timeout=60, what="gunicorn to answer", interval=0.2)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(WRK_SCRIPT)
        for name, path in endpoints.items():
            url = f"http://127.0.0.1:{port}{path}"
            header = f"Authorization: Api-Key {key}"
            base = [wrk, f"-t{threads}", f"-c{connections}", "-s", script.name, "-H", header]
            subprocess.run([*base, f"-d{warmup}s", url], capture_output=True, check=True)
            out = subprocess.run([*base, f"-d{seconds}s", url], capture_output=True, text=True, check=True)
            report[name] = {"path": path, **json.loads(out.stdout.strip().splitlines()[-1])}
        Path(script.name).unlink()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return report


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
