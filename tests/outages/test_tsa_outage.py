"""The timestamp authority down, with real parts: the test PKI's TSA (certomancer, tests/pki.py) behind a proxy on
a port of our own that the test stops, starts, or makes answer 503. Signing waits for it (Unavailable "tsa"),
never fails and never signs without the timestamp; its breaker stops the requests while it is open."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from demo.erp.server import serve
from robots.config import load_config
from robots.core.domain import PadesLevel
from robots.engine.runner import Runner
from robots.engine.services import services_for
from robots.engine.tick import tick
from robots.store import Store, outages
from robots.store import schema as t
from robots.support.breaker import Breaker, BreakerState
from robots.support.clock import ManualClock
from signing.config import SigningConfig, TimestampConfig
from signing.service import SigningService, TsaUnavailable
from signing.verify import verify_bytes
from tests.outages.conftest import RecordingAlerter
from tests.signing.test_signing import MARKUP, now, pfx_officer
from tests.worlds import AS_OF, NOW, edit_settings, mail_world

PROXY_PORT = 19520
CLOSED_PORT = 19521


class TsaProxy:
    """Forwards RFC 3161 requests to ``target``, or answers ``status`` instead while it is set."""

    def __init__(self, target: str):
        self.target, self.status, self.hits = target, None, 0
        self.url = f"http://127.0.0.1:{PROXY_PORT}/tsa"

    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            self.hits += 1
            if self.status is not None:
                return Response(b"down for maintenance", status_code=self.status, media_type="text/plain")
            async with httpx.AsyncClient() as client:
                got = await client.post(self.target, content=await request.body(),
                                        headers={"Content-Type": "application/timestamp-query"})
            return Response(got.content, status_code=got.status_code, media_type=got.headers.get("content-type"))

        return Starlette(routes=[Route("/tsa", handle, methods=["POST"])])

    def serve(self):
        return serve(self.app(), port=PROXY_PORT)


@pytest.fixture
def letter():
    from robots.documents import render_letter

    return render_letter(MARKUP, title="Претензия", stamp_room=True)


def signer(pki, url: str, breaker: Breaker | None = None, attempts: int = 2) -> SigningService:
    cfg = SigningConfig(trust_roots=(pki.root_pem,), timestamp=TimestampConfig(url=url, attempts=attempts,
                                                                                timeout_seconds=3))
    return SigningService(cfg, {"good": pfx_officer(pki, "good")}, pki.folder, environ={}, breaker=breaker,
                          sleep=lambda s: None)


def sign(svc: SigningService, letter) -> bytes:
    at = now()
    signed, _ = svc.sign(letter.data, svc.choose("good", at), at=at, level=PadesLevel.B_T)
    return signed


def test_an_unreachable_tsa_is_unavailable_and_its_breaker_stops_the_requests(test_pki, pki_server, letter):
    clock = ManualClock(now())
    breaker = Breaker("tsa", clock, threshold=2, cooldown=300)
    svc = signer(test_pki, f"http://127.0.0.1:{CLOSED_PORT}/tsa", breaker)
    try:
        for _ in range(2):
            with pytest.raises(TsaUnavailable) as exc:
                sign(svc, letter)
            assert exc.value.system == "tsa" and "cannot reach the timestamp authority" in exc.value.reason
            assert "(2 attempts)" in exc.value.reason
        assert breaker.state is BreakerState.OPEN and exc.value.retry_at == clock.now() + timedelta(seconds=300)
        with pytest.raises(TsaUnavailable, match="circuit open"):  # no request while it is open
            sign(svc, letter)
        # A B-B signature needs no TSA: it is not held up.
        at = now()
        svc.sign(letter.data, svc.choose("good", at), at=at, level=PadesLevel.B_B)
    finally:
        svc.close()


def test_a_tsa_answering_503_waits_and_signs_once_it_is_back(test_pki, pki_server, letter):
    proxy = TsaProxy(test_pki.tsa_url)
    clock = ManualClock(now())
    breaker = Breaker("tsa", clock, threshold=3, cooldown=60)
    svc = signer(test_pki, proxy.url, breaker, attempts=3)
    try:
        with proxy.serve():
            proxy.status = 503
            with pytest.raises(TsaUnavailable, match="HTTP 503"):
                sign(svc, letter)
            assert proxy.hits == 3 and breaker.failures == 1
            proxy.status = 400  # an answer that refuses: not an outage, the system is up
            with pytest.raises(TimestampRequestError):
                sign(svc, letter)
            assert breaker.failures == 0
            proxy.status = None
            signed = sign(svc, letter)
        report = verify_bytes(signed, "x.pdf", svc.trust_roots, online=False)
        assert report.ok and report.signatures[0].timestamp is not None
    finally:
        svc.close()


def test_the_tsa_down_makes_the_letters_wait_then_they_are_signed_and_sent(tmp_path, officer_pki, smtp):
    smtp.start()
    root = mail_world(tmp_path, officer_pki, smtp)
    real_tsa = load_config(root / "schedules.yaml").settings.signing.timestamp.url
    proxy = TsaProxy(real_tsa)

    def settings(s):
        s["signing"]["timestamp"] = {"url": proxy.url, "attempts": 1, "timeout_seconds": 3}
        s["alerts"] = {"after_failures": 2, "cooldown_seconds": 300}

    edit_settings(root, settings)
    config = load_config(root / "schedules.yaml")
    store = Store.open(config.database_url())
    clock = ManualClock(NOW)
    services = services_for(config, store, clock)
    alerter = RecordingAlerter()
    services.breakers.listener.alerter = alerter  # type: ignore[union-attr]
    # What Services.signing should pass (see the report): the TSA's breaker of this process.
    services.signing_service = SigningService.from_config(config, breaker=services.breakers("tsa"))
    try:
        report = tick(services, AS_OF, NOW)  # the proxy is not serving: the TSA is down
        assert len(report.runner.waiting) == 2 and not report.runner.failed
        steps = store.rows(select(t.run_steps).where(t.run_steps.c.idx == 1))
        assert {s.status for s in steps} == {"waiting"} and all("tsa" in (s.error or "") for s in steps)
        for _ in range(12):
            clock.advance(600)
            assert not Runner(services).run_pending(clock.now()).failed
        assert alerter.kinds() == [("down", "tsa")] and smtp.received == []
        assert outages.system_state(store, "tsa").state == "open"
        with proxy.serve():
            for _ in range(2):
                clock.advance(600)
                Runner(services).run_pending(clock.now())
        assert sorted(r.status for r in store.rows(select(t.runs.c.status))) == ["done", "done"]
        assert len(smtp.received) == 2
        assert alerter.kinds() == [("down", "tsa"), ("recovered", "tsa")]
    finally:
        services.close()
        store.close()
