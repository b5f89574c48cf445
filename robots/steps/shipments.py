"""``block_shipments`` / ``unblock_shipments``: stop or resume shipments to a debtor through a connector's write-back.

Decide, save the decision, then act: the block step records its decision in ``shipment_blocks`` (once per run and
step) before it calls the accounting system, and confirms the row after the system said yes. So:

* a step re-run after a crash finds its own row and calls again (blocking is idempotent on the system's side) or,
  if it was confirmed, returns what it did without calling; a row an earlier attempt left is not dropped while
  the system is down (that attempt may have been applied), only when the system answers no;
* a contract the robots already block (by another run) is not blocked twice: nothing is recorded or called;
* a write-back that failed (the system was down, or answered not-ok) drops the decision and raises a retryable
  error; a connector without that write-back action is a business error (the config must change);
* a write-back that may have been applied although no answer came (a read timeout, a connection broken after the
  request went out: ``maybe_applied``) keeps the decision as ``blocking``: the system may hold the block, so the
  robots must know of it. The run waits for the system; the step then repeats the idempotent request, which reads
  the state back ("already so" when the timed-out request had been applied), and confirms the row. Never a block
  in the accounting system that the robots do not know about.

The accounting system down (no connection, timeouts, 5xx/429 after the connector's retries, or its circuit breaker
open) raises :class:`~robots.core.errors.Unavailable` of the connector's id: the run waits, it is not failed.

The unblock step lifts only blocks the robots placed, and says so when there are none.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

import structlog

from connectors.base import ConnectorUnavailable, WriteBackUnsupported, WriteResult
from robots.core.errors import BusinessError, Unavailable, UsageError
from robots.steps.base import CheckContext, Step, StepConfig, register
from robots.steps.context import StepContext
from robots.steps.texts import render_text, text_problem
from robots.store import shipments as sb
from robots.store.ledger import other_contracts
from robots.support.breaker import Breaker, BreakerState

ACTIONS = ("block_shipments", "unblock_shipments")

log = structlog.get_logger("arbots.shipments")


class WriteBackFailed(RuntimeError):
    """The accounting system did not confirm the write-back: retried by the runner."""


def write_back_connectors(settings: Any) -> list[Any]:
    """The ``connectors:`` entries that have a ``write_back`` section."""
    return [c for c in settings.connectors if getattr(c, "write_back", None) is not None]


def has_action(entry: Any, action: str) -> bool:
    return bool(getattr(getattr(entry, "write_back", None), action, None))


def pick_connector(settings: Any, wanted: str | None, action: str) -> tuple[str | None, str | None]:
    """(connector id, None) or (None, the problem in plain words)."""
    if wanted is not None:
        entry = next((c for c in settings.connectors if c.id == wanted), None)
        if entry is None:
            known = ", ".join(c.id for c in settings.connectors)
            return None, f"no connector {wanted!r} in schedules.yaml (connectors: {known})"
    else:
        candidates = write_back_connectors(settings)
        if not candidates:
            return None, ("no connector has a write_back section in schedules.yaml; add write_back."
                          f"{action} to the accounting system's connector")
        if len(candidates) > 1:
            return None, (f"several connectors have write_back ({', '.join(c.id for c in candidates)}); "
                          "name one with connector:")
        entry = candidates[0]
    if not has_action(entry, action):
        return None, f"connector {entry.id!r} has no write_back.{action} in schedules.yaml; add it or name another"
    return entry.id, None


class ShipmentsConfig(StepConfig):
    #: A connector id of schedules.yaml; default: the only connector with a write_back section.
    connector: str | None = None
    #: Text the accounting system records with the block (a template with the letter's variables).
    reason: str = ""
    #: ``contract``: shipments under the run's contract; ``counterparty``: every contract of the counterparty.
    scope: Literal["contract", "counterparty"] = "contract"

    def check(self, ctx: CheckContext, earlier: Sequence[StepConfig]) -> list[tuple[tuple[str, ...], str]]:
        problems: list[tuple[tuple[str, ...], str]] = []
        if ctx.settings is not None:
            _, problem = pick_connector(ctx.settings, self.connector, self.kind)
            if problem:
                problems.append((("connector",), problem))
        if (problem := text_problem(self.reason)) is not None:
            problems.append((("reason",), problem))
        return problems


class BlockShipmentsConfig(ShipmentsConfig):
    kind: str = "block_shipments"
    reason: str = "Просроченная задолженность по договору {{ contract.number }}"


class UnblockShipmentsConfig(ShipmentsConfig):
    kind: str = "unblock_shipments"
    reason: str = "Задолженность по договору {{ contract.number }} погашена"


def _reason(cfg: ShipmentsConfig, ctx: StepContext) -> str:
    return render_text(cfg.reason, ctx.template_context(), f"{cfg.kind} reason").strip()


def _connector_id(cfg: ShipmentsConfig, ctx: StepContext) -> str:
    connector_id, problem = pick_connector(ctx.services.config.settings, cfg.connector, cfg.kind)
    if problem:
        raise BusinessError(f"{cfg.kind}: {problem}")
    assert connector_id is not None
    return connector_id


def _breaker(ctx: StepContext, connector_id: str) -> Breaker | None:
    breakers = getattr(ctx.services, "breakers", None)
    return breakers(connector_id) if breakers is not None else None


def _wait_if_down(ctx: StepContext, connector_id: str) -> None:
    """Wait (Unavailable) while the connector's breaker is open and cooling down, before deciding anything."""
    breaker, clock = _breaker(ctx, connector_id), getattr(ctx.services, "clock", None)
    if breaker is None or clock is None or breaker.state is not BreakerState.OPEN:
        return
    retry_at = breaker.retry_at()
    if retry_at is not None and clock.now() < retry_at:
        raise Unavailable(connector_id, retry_at, f"the accounting system is down: {breaker.last_error}")


def _write(ctx: StepContext, connector_id: str, action: str, contract_id: str | None, reason: str) -> WriteResult:
    """Call the connector's write-back (through its circuit breaker); classify what goes wrong for the runner."""
    breaker = _breaker(ctx, connector_id)
    conn = ctx.services.connector(connector_id)
    if breaker is not None:
        try:
            breaker.before()  # open (or another call is the probe): Unavailable, nothing is sent
        except BaseException:
            conn.close()
            raise
    try:
        call = getattr(conn, action, None)
        if call is None:
            raise BusinessError(f"connector {connector_id!r} cannot write back ({action}); use one that can")
        result = call(ctx.counterparty.id, contract_id, reason)
    except WriteBackUnsupported as exc:
        _answered(breaker)
        raise BusinessError(str(exc)) from None
    except ConnectorUnavailable as exc:  # down after the connector's own retries: the run waits for it
        down = exc if isinstance(exc, Unavailable) else Unavailable(connector_id, None, exc.reason)
        if breaker is not None:
            down.retry_at = breaker.failure(down.reason).retry_at
        if down is exc:
            raise
        raise down from exc
    except UsageError as exc:  # refused credentials and the like: a person must fix the config
        _answered(breaker)
        raise BusinessError(str(exc)) from None
    except Exception:
        _answered(breaker)
        raise
    finally:
        conn.close()
    _answered(breaker)
    if not result.ok:
        raise WriteBackFailed(f"connector {connector_id!r}: {action} not confirmed: {result.detail or 'no detail'}")
    return result


def _answered(breaker: Breaker | None) -> None:
    if breaker is not None:
        breaker.success()  # the system answered (perhaps no): it is up


def _maybe_applied(exc: BaseException) -> bool:
    """Whether the failed write-back may have been applied all the same (no answer came after it went out)."""
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, "maybe_applied", False):
            return True
        seen = seen.__cause__
    return False


def _since(block: sb.Block) -> str:
    return block.blocked_at.isoformat(timespec="minutes")


@register
class BlockShipmentsStep(Step):
    kind = "block_shipments"
    config = BlockShipmentsConfig

    def run(self, cfg: BlockShipmentsConfig, ctx: StepContext) -> dict[str, Any]:
        store, run = ctx.services.store, ctx.run
        scope = sb.BlockScope(cfg.scope)
        target = None if scope is sb.BlockScope.COUNTERPARTY else ctx.contract.id
        out = {"kind": "shipments", "action": "block", "scope": scope.value, "contract_id": ctx.contract.id,
               "counterparty_id": ctx.counterparty.id}
        mine = sb.block_of_step(store, run.id, ctx.step_idx)
        fresh = mine is None  # decided in this attempt (else an earlier one decided, and may have been applied)
        if mine is not None and mine.state is not sb.BlockState.BLOCKING:
            return {**out, "connector": mine.connector, "block_id": mine.id, "reason": mine.reason,
                    "blocked_at": mine.blocked_at.isoformat(), "detail": mine.detail or "", "changed": True}
        if mine is None:
            other = sb.active_block(store, ctx.contract.id, ctx.counterparty.id, scope)
            if other is not None:
                what = "the counterparty" if other.scope is sb.BlockScope.COUNTERPARTY else "this contract"
                return {**out, "changed": False, "block_id": other.id, "connector": other.connector,
                        "note": f"already blocked since {_since(other)} (run {other.blocked_run_id}, for {what})"}
            connector_id = _connector_id(cfg, ctx)
            _wait_if_down(ctx, connector_id)
            mine = sb.record_blocking(store, run_id=run.id, step_idx=ctx.step_idx, contract_id=ctx.contract.id,
                                      counterparty_id=ctx.counterparty.id, scope=scope, connector=connector_id,
                                      reason=_reason(cfg, ctx), now=ctx.now)
        else:  # our own decision, unconfirmed: a crash, or a write-back that may have been applied; repeat it
            log.info("block_read_back", run_id=run.id, step=ctx.step_idx, block_id=mine.id, connector=mine.connector,
                     contract_id=ctx.contract.id)
        ctx.ensure_lease("the shipment block write-back")
        try:
            result = _write(ctx, mine.connector, "block_shipments", target, mine.reason)
        except Exception as exc:
            if _maybe_applied(exc) or (not fresh and isinstance(exc, Unavailable)):
                # The system may hold the block (this request, or an earlier attempt's, may have been applied) and
                # could not say: keep the decision, repeat the request later. A refusal is an answer: dropped.
                log.warning("block_unconfirmed", run_id=run.id, step=ctx.step_idx, block_id=mine.id,
                            connector=mine.connector, contract_id=ctx.contract.id, error=str(exc))
            else:  # not blocked: no other run may read this decision as a block; a retry decides again
                sb.forget_blocking(store, mine.id)
            raise
        sb.confirm_blocked(store, mine.id, result.detail, ctx.now)
        return {**out, "connector": mine.connector, "block_id": mine.id, "reason": mine.reason,
                "blocked_at": mine.blocked_at.isoformat(), "detail": result.detail, "changed": True}


@register
class UnblockShipmentsStep(Step):
    kind = "unblock_shipments"
    config = UnblockShipmentsConfig

    def run(self, cfg: UnblockShipmentsConfig, ctx: StepContext) -> dict[str, Any]:
        store, run = ctx.services.store, ctx.run
        scope = sb.BlockScope(cfg.scope)
        out: dict[str, Any] = {"kind": "shipments", "action": "unblock", "scope": scope.value,
                               "contract_id": ctx.contract.id, "counterparty_id": ctx.counterparty.id}
        blocks = sb.blocks_to_lift(store, ctx.contract.id, ctx.counterparty.id, scope, run.id)
        if not blocks:
            others = sb.covering_blocks(store, ctx.contract.id, ctx.counterparty.id)
            note = f"nothing to unblock: the robots hold no {scope.value}-wide block here"
            if others:
                note += "; still blocked by the robots: " + ", ".join(
                    f"{b.scope.value} block since {_since(b)} (scope: {b.scope.value} lifts it)" for b in others)
            return {**out, "changed": False, "note": note}
        if scope is sb.BlockScope.COUNTERPARTY:
            overdue = _overdue_elsewhere(ctx)
            if overdue:
                return {**out, "changed": False, "note": "the counterparty-wide block stays: overdue debt on "
                        + ", ".join(f"contract {c} ({a})" for c, a in overdue)}
        reason = _reason(cfg, ctx)
        pending = [b for b in blocks if b.state is sb.BlockState.BLOCKED]
        details = []
        for connector_id in sorted({b.connector for b in pending}):
            target = None if scope is sb.BlockScope.COUNTERPARTY else ctx.contract.id
            ctx.ensure_lease("the shipment unblock write-back")
            result = _write(ctx, connector_id, "unblock_shipments", target, reason)
            ids = [b.id for b in pending if b.connector == connector_id]
            sb.mark_unblocked(store, ids, run.id, reason, result.detail, ctx.now)
            details.append(result.detail)
        return {**out, "changed": True, "block_ids": [b.id for b in blocks], "reason": reason,
                "blocked_since": min(_since(b) for b in blocks), "detail": "; ".join(details)}


def _overdue_elsewhere(ctx: StepContext) -> list[tuple[str, Decimal]]:
    """Other contracts of the counterparty with overdue debt above the tolerance on the run's day."""
    from robots.core.balances import allocate

    store, as_of = ctx.services.store, ctx.run.as_of
    tolerance = ctx.services.config.settings.aging.tolerance
    found = []
    for contract_id in other_contracts(store, ctx.counterparty.id, ctx.contract.id):
        invoices, payments = store.contract_entries(contract_id, as_of)
        left = allocate(invoices, payments).open
        overdue = sum((v for i in invoices if i.due_date < as_of and (v := left.get(i.id)) is not None),
                      Decimal("0"))
        if overdue > tolerance:
            found.append((contract_id, overdue))
    return found
