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

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from robots.domain import CatchUp, DayCount

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$", max_length=64)]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class FileConnectorConfig(Frozen):
    id: Identifier
    kind: Literal["file"]
    path: Path


ConnectorConfig = Annotated[FileConnectorConfig, Field(discriminator="kind")]


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


class GroupConfig(Frozen):
    days: DayCount = DayCount.CALENDAR
    columns: tuple[ColumnConfig, ...] = Field(min_length=1)


class Role(Frozen):
    """A person who receives tasks: the account manager, the head of sales, legal."""

    name: str
    email: str = ""


class RunnerConfig(Frozen):
    #: Attempts of a step that fails with an application error (timeouts, servers down) before the run fails.
    max_attempts: int = Field(default=5, ge=1, le=100)
    #: Seconds a claimed run stays reserved for the process that claimed it.
    lease_seconds: int = Field(default=600, ge=10)


class TickConfig(Frozen):
    id: Identifier
    #: A crontab line (minute hour day month weekday), in the daemon's timezone.
    cron: str


class DaemonConfig(Frozen):
    timezone: str = "Europe/Moscow"
    ticks: tuple[TickConfig, ...] = (TickConfig(id="morning", cron="0 8 * * *"),)


class Settings(Frozen):
    """The whole of schedules.yaml."""

    version: Literal[1] = 1
    company: Company
    database: Database = Database()
    paths: Paths = Paths()
    connectors: tuple[ConnectorConfig, ...] = Field(min_length=1)
    calendar: CalendarConfig = CalendarConfig()
    aging: AgingConfig = AgingConfig()
    groups: Mapping[Identifier, GroupConfig]
    roles: Mapping[Identifier, Role] = Field(default_factory=dict, validate_default=True)
    runner: RunnerConfig = RunnerConfig()
    daemon: DaemonConfig = DaemonConfig()

    @field_validator("groups", "roles", mode="after")
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
