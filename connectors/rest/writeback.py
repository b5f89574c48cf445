"""Write-back over REST: stop or resume shipments to a debtor, or post a note, with one configured request each.

The request's path, params, JSON body or form come from ``write_back.<action>`` with their placeholders filled
(:func:`connectors.rest.config.fill`). Any 2xx answer is success; anything else, or the login page, is a
:class:`~robots.core.errors.BusinessError` carrying the status and what the server said, without secrets.

A server that cannot be reached, or does not answer in time, raises :class:`~connectors.rest.http.ConnectorDown`
after the client's retries; ``maybe_applied`` tells the caller that the request may have been applied all the same
(a read timeout), so it keeps its decision and repeats the request later (blocking and unblocking are idempotent
on the system's side: a repeat changes nothing and says so). A 2xx answer whose JSON says ``"changed": false`` is
reported as such in the result's detail ("already so"): that is how a repeat after a timeout reads the state back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urljoin

from connectors.base import WriteBackUnsupported, WriteResult
from connectors.rest.config import fill
from connectors.rest.http import Refused, RestClient, excerpt, with_params
from robots.core.errors import BusinessError


def write_back(client: RestClient, action: str, counterparty_id: str, contract_id: str | None, *, reason: str = "",
               text: str = "") -> WriteResult:
    """Send the request of ``action`` (block_shipments, unblock_shipments, post_note); raises
    WriteBackUnsupported when it is not configured, ConnectorUnavailable after the retries, BusinessError when the
    server refuses."""
    config = client.config
    act = getattr(config.write_back, action, None) if config.write_back else None
    if act is None:
        raise WriteBackUnsupported(f"connector '{client.id}' has no write_back.{action} configured")
    values = {"counterparty_id": counterparty_id, "contract_id": contract_id, "reason": reason, "text": text}
    path = fill(act.path, values, lambda s: quote(s, safe=""))
    url = with_params(urljoin(config.base_url, path), fill(act.params, values, str))
    kwargs: dict[str, Any] = {}
    if act.json_ is not None:
        kwargs["json"] = fill(act.json_, values, str, json_nulls=True)
    if act.form:
        kwargs["data"] = fill(act.form, values, str)
    what = f"{act.method} {path}"
    try:
        client.ensure_login()
        resp = client.request(act.method, url, what, **kwargs)
    except Refused as e:
        raise BusinessError(client.redact(f"connector '{client.id}': {what}: {e}")) from None
    if client.at_login_page(resp):
        raise BusinessError(f"connector '{client.id}': {what}: the answer is the login page; check auth")
    if 200 <= resp.status_code < 300:
        return WriteResult(client.id, action, True, f"HTTP {resp.status_code}{_unchanged(resp)}")
    said = client.redact(excerpt(resp))
    raise BusinessError(f"connector '{client.id}': {what}: HTTP {resp.status_code} {resp.reason_phrase}"
                        + (f": {said}" if said else ""))


def _unchanged(resp: Any) -> str:
    """" (already so)" when a JSON answer says the request changed nothing (a repeat of an applied request)."""
    if "json" not in resp.headers.get("content-type", "").lower():
        return ""
    try:
        body = resp.json()
    except ValueError:
        return ""
    return " (already so)" if isinstance(body, dict) and body.get("changed") is False else ""
