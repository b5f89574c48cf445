"""The catalogue of the store's tables (SQLAlchemy Core). The schema itself is created by Alembic migrations.

Each aggregate module defines its own tables on :data:`robots.store.types.metadata`; importing them all here makes
that metadata complete, which is what Alembic (migrations/env.py) and the migration tests compare the migrations
against. Nothing in an aggregate imports this module.

The unique constraints are the exactly-once guarantees:

* ``crossings (invoice_id, column_id, epoch)``: a debt crosses a column once;
* ``runs (run_key)``: one scenario run per contract, column and day;
* ``(run_id, step_idx)`` of ``documents``, ``tasks``, ``deliveries``, ``approvals`` and ``shipment_blocks``
  (``blocked_run_id, blocked_step_idx``): a re-executed step never duplicates its effect;
* ``notifications (task_id, channel)``: a person is told about a task once per channel.
* ``ref`` of ``promises``, ``disputes`` and ``contacts``: an imported row is recorded once;
* ``trigger_fires (trigger_id, scheduled_for)``: one scheduled fire of a tick or a housekeeping job runs once,
  however many daemons believe they lead.
"""

from __future__ import annotations

from robots.store.approvals import approvals
from robots.store.archive_index import archive_bags, documents, legal_holds
from robots.store.daemons import daemons, trigger_fires
from robots.store.deliveries import deliveries
from robots.store.ledger import contracts, counterparties, invoices, payments, sync_failures, syncs
from robots.store.outages import external_systems
from robots.store.people import contacts, disputes, promises
from robots.store.runs import closed_invoices, crossings, evaluations, holds, robot_state, run_steps, runs
from robots.store.shipments import shipment_blocks
from robots.store.tasks import notifications, tasks
from robots.store.types import metadata

__all__ = ["approvals", "archive_bags", "closed_invoices", "contacts", "contracts", "counterparties", "crossings",
           "daemons", "deliveries", "disputes", "documents", "evaluations", "external_systems", "holds", "invoices",
           "legal_holds", "metadata", "notifications", "payments", "promises", "robot_state", "run_steps", "runs",
           "shipment_blocks", "sync_failures", "syncs", "tasks", "trigger_fires"]
