"""A real SMTP server on a local port that records what it receives and injects failures.

Used by the alert tests and ``manage.py bench_alerts`` (it needs ``aiosmtpd``, a development
dependency, imported only here). Failures are injected per SMTP transaction, either scripted
(``SmtpSink.script(...)``) or at random (``failure_rate``, with ``random.Random(seed)``):

- ``reject``: RCPT answers ``451 4.3.0`` (a temporary failure before the data);
- ``drop_before``: the connection is closed when MAIL FROM arrives (before the data);
- ``drop_after``: the message is received and recorded, then the connection is closed instead of
  answering ``250``: the client sees an error although the message arrived. This is the case that
  makes SMTP delivery at-least-once.

Random failures are half before the data (``reject`` and ``drop_before`` alike) and half after.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Literal

from aiosmtpd.controller import Controller

Failure = Literal["reject", "drop_before", "drop_after"]
BEFORE_DATA: tuple[Failure, ...] = ("reject", "drop_before")


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage


@dataclass
class SinkStats:
    """What the sink saw: messages received and failures injected (``drop_after`` per Message-ID)."""

    received: list[ReceivedMessage] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    dropped_after: Counter[str] = field(default_factory=Counter)

    @property
    def message_ids(self) -> Counter[str]:
        return Counter(m.message_id for m in self.received)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(  # noqa: N802  (aiosmtpd's hook names)
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        failure = self.sink._next_failure()
        envelope.injected_failure = failure
        if failure == "drop_before":
            server.transport.close()
            return "421 4.4.2 closing (injected)"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if getattr(envelope, "injected_failure", None) == "reject":
            return "451 4.3.0 temporary failure (injected)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        received = ReceivedMessage(
            message_id=str(parsed.get("Message-ID", "")).strip(),
            sender=str(envelope.mail_from),
            recipients=tuple(envelope.rcpt_tos),
            message=parsed,
        )
        drop = getattr(envelope, "injected_failure", None) == "drop_after"
        with self.sink._lock:
            self.sink.stats.received.append(received)
            if drop:
                self.sink.stats.dropped_after[received.message_id] += 1
        if drop:
            server.transport.close()
            return "421 4.4.2 closing (injected)"
        return "250 OK"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpSink:
    """``with SmtpSink(failure_rate=0.3, seed=1) as sink:`` serves SMTP on ``sink.port``."""

    def __init__(self, *, failure_rate: float = 0.0, seed: int | None = None) -> None:
        self.failure_rate = failure_rate
        self.random = random.Random(seed)
        self.stats = SinkStats()
        self._script: deque[Failure | None] = deque()
        self._lock = threading.Lock()
        self.port = free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        # aiosmtpd logs every SMTP command at INFO.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def script(self, *failures: Failure | None) -> None:
        """The next transactions fail like this, in order (``None``: that one succeeds)."""
        with self._lock:
            self._script.extend(failures)

    def settings(self) -> dict[str, Any]:
        """Django settings that send mail here through the SMTP backend."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": self.port,
            "EMAIL_USE_TLS": False,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
            "EMAIL_TIMEOUT": 10,
        }

    def _next_failure(self) -> Failure | None:
        with self._lock:
            if self._script:
                failure = self._script.popleft()
            elif self.failure_rate and self.random.random() < self.failure_rate:
                # Half before the data (split between a 4xx and a dropped connection), half after.
                failure = self.random.choice(BEFORE_DATA) if self.random.random() < 0.5 else "drop_after"
            else:
                failure = None
            if failure is not None:
                self.stats.injected[failure] += 1
            return failure
