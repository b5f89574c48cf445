"""Persistence of arbots' business state (SQLAlchemy 2.0; SQLite or PostgreSQL; Alembic migrations)."""

from robots.store.records import RunRecord, RunStatus, StepStatus
from robots.store.store import EvaluationTx, Store

__all__ = ["EvaluationTx", "RunRecord", "RunStatus", "Store", "StepStatus"]
