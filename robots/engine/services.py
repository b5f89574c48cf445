"""What steps may use while they run (robots.steps.base.Services), built once per process at the edge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archive import Archive
from connectors.base import Connector
from robots.config import Config
from robots.core.domain import Payment
from robots.core.workdays import WorkCalendar
from robots.documents.templates import TemplateRenderer
from robots.engine.outages import breakers_for
from robots.engine.sync import connector_by_id, fresh_payments
from robots.store import Store
from robots.support.breaker import Breakers
from robots.support.clock import Clock


@dataclass
class Services:
    """The config, the store, the calendar, the template renderer, and the adapters a step reaches through them."""

    config: Config
    store: Store
    calendar: WorkCalendar
    renderer: TemplateRenderer
    #: The current time of leases, heartbeats and retries (business time stays an argument); the edge passes it.
    clock: Clock
    #: One circuit breaker per external system (smtp, tsa, a connector id), on ``clock``.
    breakers: Breakers
    #: Built on first use (a scenario without sign steps never opens a key).
    signing_service: Any = None

    @property
    def signing(self) -> Any:
        if self.signing_service is None:
            from signing.service import SigningService  # pyHanko is heavy: only a scenario that signs loads it

            self.signing_service = SigningService.from_config(self.config, breaker=self.breakers("tsa"))
        return self.signing_service

    @property
    def archive(self) -> Archive:
        return Archive(self.config.archive_dir, organization=self.config.settings.company.name)

    def connector(self, connector_id: str) -> Connector:
        """A new connection to one of the config's connectors (for write-back); the caller closes it."""
        return connector_by_id(self.config, connector_id)

    def fresh_payments(self, contract_id: str) -> tuple[list[Payment], list[str]]:
        """One contract's payments re-read now from the connectors (robots.engine.sync.fresh_payments)."""
        return fresh_payments(self.config, contract_id)

    def close(self) -> None:
        if self.signing_service is not None:
            self.signing_service.close()
            self.signing_service = None


def services_for(config: Config, store: Store, clock: Clock) -> Services:
    """The services of one process; ``clock`` comes from the edge (SystemClock) or a test (ManualClock). The
    breakers follow ``alerts:`` and record outages in the store, alerting ops once per outage
    (robots.engine.outages)."""
    return Services(config=config, store=store, calendar=config.calendar(),
                    renderer=TemplateRenderer(config.templates_dir), clock=clock,
                    breakers=breakers_for(config, store, clock))
