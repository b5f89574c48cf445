"""The typed, frozen shape of ``schedules.yaml`` and ``scenarios/*.yaml``.

Unknown keys are rejected everywhere (``extra="forbid"``): a typo must never be dropped quietly. Secrets are
never inline; a field that needs one takes the name of an environment variable (``*_env``) or a file (``*_file``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from connectors.files.config import FileConnectorConfig
from connectors.rest.config import RestConnectorConfig
from connectors.ui.config import UiConnectorConfig
from robots.config.alerts import AlertsConfig
from robots.config.penalty_config import PenaltiesConfig
from robots.config.people_config import PromisesConfig
from robots.config.workflow_config import ApprovalsConfig, EventsConfig, ReconciliationConfig
from robots.core.domain import CatchUp, DayCount
from robots.mail.config import EmailConfig
from robots.support.config_types import Frozen, Identifier
from signing.config import OfficerConfig, SigningConfig


class Company(Frozen):
    """The creditor: our company, as it appears in letters."""

    name: str
    inn: str = ""
    address: str = ""
    phone: str = ""
    email: str = ""
    signatory_name: str = ""
    signatory_position: str = ""


class Database(Frozen):
    #: SQLAlchemy URL; a relative SQLite path is relative to the folder of schedules.yaml.
    url: str | None = None
    #: Name of an environment variable holding the URL (use this when the URL carries a password).
    url_env: str | None = None


class Paths(Frozen):
    """Folders, relative to the folder of schedules.yaml unless absolute."""

    archive: Path = Path("var/archive")
    work: Path = Path("var/work")
    scenarios: Path = Path("scenarios")
    templates: Path = Path("scenarios/templates")


ConnectorConfig = Annotated[FileConnectorConfig | RestConnectorConfig | UiConnectorConfig, Field(discriminator="kind")]


class LossLimits(Frozen):
    """The sanity guard: the largest share of the previous snapshot's records a new snapshot may lose."""

    invoices: float = Field(default=0.10, ge=0, le=1)
    payments: float = Field(default=0.10, ge=0, le=1)


class SyncConfig(Frozen):
    #: A snapshot that loses more than this share of the previous one's invoices (or payments) is refused:
    #: a half-exported ledger would make robots demand money that was paid. ``sync --accept-loss`` overrides once.
    max_loss: LossLimits = LossLimits()


class CalendarConfig(Frozen):
    country: str = "RU"
    extra_non_working_days: tuple[date, ...] = ()
    extra_working_days: tuple[date, ...] = ()


class AgingConfig(Frozen):
    #: A debt whose open balance is at most this is paid (kopecks left after rounding don't trigger letters).
    tolerance: Decimal = Field(default=Decimal("1.00"), ge=0)
    catch_up: CatchUp = CatchUp.LATEST
    #: When true, a changed due date arms every column again for that invoice.
    rearm_on_due_date_change: bool = False


class ColumnConfig(Frozen):
    id: Identifier
    #: Days past due at which a debt enters the column; negative = before the due date.
    offset: int = Field(ge=-365, le=3650)
    scenario: Identifier
    title: str = ""
    #: Count this column's offset in other days than its group's (e.g. "7 working days" in a calendar group).
    days: DayCount | None = None


class GroupConfig(Frozen):
    days: DayCount = DayCount.CALENDAR
    columns: tuple[ColumnConfig, ...] = Field(min_length=1)


class Role(Frozen):
    """A person who receives tasks: the account manager, the head of sales, legal."""

    name: str
    email: str = ""
    #: Another role who takes over: approvals escalate to the deputy after approvals.escalate_after_hours.
    deputy: Identifier | None = None
    #: How this person hears of a new task: by e-mail (needs email: in schedules.yaml) and/or a webhook.
    notify: tuple[Literal["email", "webhook"], ...] = ()
    #: A URL that receives a JSON POST per task (a chat bot, a CRM), when notify lists webhook.
    webhook: str | None = None
    #: The environment variable holding a Bearer token for the webhook (never the token itself).
    webhook_token_env: str | None = None


class RunnerConfig(Frozen):
    #: Attempts of a step that fails with an application error (timeouts, servers down) before the run fails.
    max_attempts: int = Field(default=5, ge=1, le=100)
    #: Seconds a claimed run stays reserved for the process that claimed it.
    lease_seconds: int = Field(default=600, ge=10)


class TickConfig(Frozen):
    id: Identifier
    #: A crontab line (minute hour day month weekday), in the daemon's timezone.
    cron: str


class CronJob(Frozen):
    """A housekeeping job on a crontab line (in the daemon's timezone); ``"0 7 * * *"`` is short for
    ``{cron: "0 7 * * *"}``."""

    cron: str

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"cron": value} if isinstance(value, str) else value


class BiExportJob(CronJob):
    #: Where the BI export (folder ``bi/``) and the report (``report.html``) are written, relative to schedules.yaml.
    folder: Path = Path("var/bi")


class Housekeeping(Frozen):
    """The leader's housekeeping jobs, each optional. A window missed while no daemon was leader runs once when a
    leader comes back within ``daemon.misfire_grace_minutes``, and is skipped (logged) when older."""

    #: Warn about officers' certificates that expire within signing.expiry_warning_days or cannot sign.
    certificates: CronJob | None = None
    #: Verify the archive bags written since the last check (hashes, journals, index, signatures offline).
    archive_verify: CronJob | None = None
    #: The BI export and the report of the last evaluated day into ``folder``.
    bi_export: BiExportJob | None = None


class HttpConfig(Frozen):
    """Each daemon's own HTTP server: /healthz, /readyz and Prometheus /metrics."""

    enabled: bool = True
    host: str = "127.0.0.1"
    #: 0 turns the server off (as does enabled: false). Two daemons on one host need two ports.
    port: int = Field(default=9464, ge=0, le=65535)


class ReadyConfig(Frozen):
    """When /readyz answers 200: the database answers and the last tick and the last good sync are recent."""

    max_tick_age_hours: float = Field(default=26, gt=0)
    max_sync_age_hours: float = Field(default=26, gt=0)


class DaemonConfig(Frozen):
    timezone: str = "Europe/Moscow"
    #: Crontab lines of the ticks (sync, evaluation, runs). Only the leader fires them, each window once (fenced
    #: by the trigger_fires table). Windows missed while no daemon was leader are coalesced: the newest one runs
    #: once when a leader starts or takes over, however old (the aging engine catches up the gap).
    ticks: tuple[TickConfig, ...] = (TickConfig(id="morning", cron="0 8 * * *"),)
    #: Minutes between runner passes between ticks (approvals decided, escalations and sending windows due). Every
    #: daemon runs them (the claims spread the work); a late pass runs once, then the interval goes on from now.
    poll_minutes: int = Field(default=15, ge=1, le=24 * 60)
    #: A housekeeping window missed by more than this is skipped (ticks always catch up once).
    misfire_grace_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    #: On PostgreSQL, how often a follower tries to become the leader (and the leader checks its lock).
    leader_poll_seconds: float = Field(default=5, ge=0.1, le=300)
    #: How often each daemon writes its heartbeat to the daemons table.
    heartbeat_seconds: float = Field(default=5, ge=0.1, le=300)
    #: A daemon whose heartbeat is older than this is shown as stale by status and not counted alive.
    stale_after_seconds: float = Field(default=30, ge=1, le=24 * 3600)
    housekeeping: Housekeeping = Housekeeping()
    http: HttpConfig = HttpConfig()
    ready: ReadyConfig = ReadyConfig()


class ArchivePolicy(Frozen):
    """How long the legal archive keeps documents. arbots never deletes; it reports what may be disposed of."""

    #: Years a document is kept after the end of the year it was made in (Russian accounting law: at least 5).
    retention_years: int = Field(default=5, ge=1, le=100)


class KpiConfig(Frozen):
    """Inputs of the KPIs that the ledger does not hold."""

    #: Working capital (оборотные активы), for Kdz = receivables / working capital; unset = Kdz not computed.
    working_capital: Decimal | None = Field(default=None, gt=0)
    #: Debt overdue by more than this many days is "problem debt".
    problem_debt_days: int = Field(default=90, ge=1, le=3650)
    #: Revenue, turnover, DSO and the CEI are measured over this many days up to the as-of date.
    period_days: int = Field(default=365, ge=28, le=3660)
    #: How many debtors the report lists.
    top_debtors: int = Field(default=10, ge=1, le=1000)


class Settings(Frozen):
    """The whole of schedules.yaml."""

    version: Literal[1] = 1
    company: Company
    database: Database = Database()
    paths: Paths = Paths()
    connectors: tuple[ConnectorConfig, ...] = Field(min_length=1)
    sync: SyncConfig = SyncConfig()
    calendar: CalendarConfig = CalendarConfig()
    aging: AgingConfig = AgingConfig()
    groups: Mapping[Identifier, GroupConfig]
    roles: Mapping[Identifier, Role] = Field(default_factory=dict, validate_default=True)
    runner: RunnerConfig = RunnerConfig()
    daemon: DaemonConfig = DaemonConfig()
    signing: SigningConfig = SigningConfig()
    officers: Mapping[Identifier, OfficerConfig] = Field(default_factory=dict, validate_default=True)
    archive: ArchivePolicy = ArchivePolicy()
    kpi: KpiConfig = KpiConfig()
    #: Named amounts for scenarios' when: expressions, e.g. lawsuit: 5000 (thresholds.lawsuit).
    thresholds: Mapping[Identifier, Decimal] = Field(default_factory=dict, validate_default=True)
    penalties: PenaltiesConfig = PenaltiesConfig()
    email: EmailConfig | None = None
    promises: PromisesConfig = PromisesConfig()
    approvals: ApprovalsConfig = ApprovalsConfig()
    reconciliation: ReconciliationConfig = ReconciliationConfig()
    events: EventsConfig = EventsConfig()
    alerts: AlertsConfig = AlertsConfig()

    @field_validator("groups", "roles", "officers", "thresholds", mode="after")
    @classmethod
    def _read_only(cls, value: Mapping[str, Any]) -> Mapping[str, Any]:
        """Frozen all the way down: the loaded mappings cannot be changed either."""
        return MappingProxyType(dict(value))


class ScenarioConfig(Frozen):
    """One scenarios/<id>.yaml. ``steps`` are validated per kind against the step registry."""

    id: Identifier
    title: str = ""
    #: Document type shown in the archive sidecar and the summary ("Претензия", "Напоминание").
    steps: tuple[Any, ...] = Field(min_length=1)
