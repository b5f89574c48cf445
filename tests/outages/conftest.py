"""The outage tests' parts: a webhook receiver for the alerts, an SMTP server that can be stopped and started again
on the same port, and a recording alerter. Every port they bind is in 19500-19599."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from demo.erp.server import serve
from robots.engine.outages import Alert
from tests.smtp import Handler


@dataclass
class Hooks:
    """What the webhook receiver got: one (headers, JSON body) per POST."""

    calls: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    url: str = ""

    def events(self) -> list[tuple[str, str]]:
        return [(body["event"], body["system"]) for _, body in self.calls]


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    got = Hooks()

    async def receive(request: Request) -> JSONResponse:
        got.calls.append((dict(request.headers), json.loads(await request.body())))
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/alerts", receive, methods=["POST"])])
    with serve(app, port=19511) as base:
        got.url = base + "alerts"
        yield got


class Smtp:
    """An aiosmtpd server on a fixed port that a test stops (the SMTP server is down) and starts again."""

    def __init__(self, port: int):
        self.host, self.port = "127.0.0.1", port
        self.handler = Handler()
        self._controller: Controller | None = None

    @property
    def received(self) -> list:
        return self.handler.received

    def start(self) -> None:
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
        self._controller = Controller(self.handler, hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp(19510)
    try:
        yield server
    finally:
        server.stop()


class RecordingAlerter:
    """An Alerter that keeps what it was asked to send; ``fail`` makes sending fail (the channel is down)."""

    def __init__(self) -> None:
        self.sent: list[Alert] = []
        self.fail = False
        self._lock = threading.Lock()

    def send(self, alert: Alert) -> bool:
        with self._lock:
            if self.fail:
                return False
            self.sent.append(alert)
            return True

    def kinds(self) -> list[tuple[str, str]]:
        return [(a.kind, a.system) for a in self.sent]
