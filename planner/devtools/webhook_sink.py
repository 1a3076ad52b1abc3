"""A real HTTP receiver on a local port for the alert channel tests: it records every request
and answers as a Slack incoming webhook (``200 ok``) or a generic webhook receiver (``200``).

Like ``smtp_sink`` for mail, it injects failures, either scripted (``WebhookSink.script``: a
status code, ``"drop"`` or ``None`` for success, one per request in order) or at random
(``failure_rate``, drawn from ``random.Random(seed)`` per request, so a run is reproducible):

- ``500``, ``503`` (with ``Retry-After``), ``429`` (with ``Retry-After``): refused, nothing taken;
- ``302``: a redirect to another path, which the sender must not follow;
- ``drop``: the connection is closed without an answer (the sender sees an error).

Only a request answered with success counts as received by the application behind it
(``accepted``): what a real receiver would have processed.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

Mode = Literal["webhook", "slack"]
Failure = int | Literal["drop"] | None
RANDOM_FAILURES: tuple[Failure, ...] = (500, 503, 429, "drop")


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    answered: int | None  # the status sent back; None when the connection was dropped
    received_at: float  # unix seconds, the sink's clock


@dataclass
class SinkRecord:
    requests: list[ReceivedRequest] = field(default_factory=list)

    def accepted(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.answered is not None and 200 <= r.answered < 300]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002  (the stdlib's name)
        """Quiet: the tests read the record instead."""

    def do_POST(self) -> None:  # noqa: N802  (the stdlib's hook name)
        sink = self.server.sink
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        failure = sink._next_failure()
        status = None if failure == "drop" else (failure or 200)
        sink._record(
            ReceivedRequest(
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                answered=status,
                received_at=time.time(),
            )
        )
        if status is None:
            self.close_connection = True
            return
        answer = (
            b"ok" if status == 200 and sink.mode == "slack" else b"" if status < 300 else b"injected failure"
        )
        self.send_response(status)
        if status in (429, 503):
            self.send_header("Retry-After", str(sink.retry_after))
        if 300 <= status < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sink: WebhookSink) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.sink = sink


class WebhookSink:
    """``with WebhookSink(mode="slack", failure_rate=0.3, seed=1) as sink:`` serves on
    ``sink.url``."""

    def __init__(
        self,
        *,
        mode: Mode = "webhook",
        failure_rate: float = 0.0,
        seed: int | None = None,
        retry_after: int = 1,
    ) -> None:
        self.mode = mode
        self.failure_rate = failure_rate
        self.retry_after = retry_after
        self.random = random.Random(seed)
        self.record = SinkRecord()
        self._script: deque[Failure] = deque()
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="webhook-sink",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        path = "/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX" if self.mode == "slack" else "/hooks/margin"
        return f"http://{host!s}:{port}{path}"

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def script(self, *failures: Failure) -> None:
        """The next requests are answered like this, in order (``None``: success)."""
        with self._lock:
            self._script.extend(failures)

    def _next_failure(self) -> Failure:
        with self._lock:
            if self._script:
                return self._script.popleft()
            if self.failure_rate and self.random.random() < self.failure_rate:
                return self.random.choice(RANDOM_FAILURES)
            return None

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.record.requests.append(request)
