"""Persistence of arbots' business state (SQLAlchemy 2.0; SQLite or PostgreSQL; Alembic migrations).

The only package that writes SQL: :class:`Store` (the ledger and the aging state) and one module of functions per
aggregate (deliveries, tasks, archive_index, people, approvals, shipments; facts for BI).
"""

from robots.store.records import Fence, RunRecord, RunStatus, StepStatus
from robots.store.runs import EvaluationTx
from robots.store.store import Store

__all__ = ["EvaluationTx", "Fence", "RunRecord", "RunStatus", "Store", "StepStatus"]
