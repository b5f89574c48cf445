"""Paging through one source of a REST connector: offset, page number, cursor, next link, or one answer.

Paging stops on a short page (offset and page kinds), an empty page, or a null next link/cursor; a next link or
cursor seen twice, or the same full page twice, is a problem (:class:`~connectors.rest.http.Refused`) rather than
an endless loop, and so is a next link to another server, which would be sent the credentials.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urljoin

from connectors.rest.config import CursorPaging, NextLinkPaging, NoPaging, OffsetPaging, PagePaging
from connectors.rest.http import Refused, RestClient, origin_of, with_params
from connectors.rest.mapping.entity import MappingError
from connectors.rest.mapping.paths import MISSING, compile_path
from connectors.rest.sources import Source


def pages(client: RestClient, src: Source, params: Mapping[str, Any]) -> Iterator[tuple[int, list[Any]]]:
    """(page number, raw records) for every page of one source, ``params`` added to the source's own; Refused on
    an unusable answer."""
    e = src.spec
    mapping = src.mapping
    paging = e.paging
    base = urljoin(client.config.base_url, e.path)
    params = {**e.params, **params}
    next_of = compile_path(paging.next) if isinstance(paging, (CursorPaging, NextLinkPaging)) else None
    seen: set[str] = set()
    previous: list[Any] | None = None
    position = paging.first if isinstance(paging, PagePaging) else 0
    follow: str | None = None
    page = 1
    while True:
        if isinstance(paging, OffsetPaging):
            url = with_params(base, {**params, paging.limit_param: paging.size, paging.offset_param: position})
        elif isinstance(paging, PagePaging):
            extra = {paging.size_param: paging.size} if paging.size_param else {}
            url = with_params(base, {**params, paging.page_param: position, **extra})
        elif isinstance(paging, CursorPaging):
            extra = {paging.size_param: paging.size} if paging.size_param and paging.size else {}
            if follow is not None:
                extra[paging.cursor_param] = follow
            url = with_params(base, {**params, **extra})
        else:
            url = follow if follow is not None else with_params(base, params)
        resp, body = client.get_json(url, f"GET {src.label} page {page}", page)
        try:
            rows = mapping.rows(body)
        except MappingError as exc:
            raise Refused(str(exc), page) from None
        yield page, rows
        n = len(rows)
        if isinstance(paging, NoPaging) or n == 0:
            return
        if isinstance(paging, (OffsetPaging, PagePaging)):
            if n < paging.size:
                return
            # The records, not a hash of the answer: comparing stops at the first differing record, and a
            # server that ignores the page but changes its envelope (a page number in meta) is caught too.
            if rows == previous:
                raise Refused(f"page {page} is the same as page {page - 1}: the server ignores "
                              f"'{paging.offset_param if isinstance(paging, OffsetPaging) else paging.page_param}'"
                              "; check the paging settings", page)
            previous = rows
            position += n if isinstance(paging, OffsetPaging) else 1
        else:
            assert next_of is not None
            nxt = next_of(body)
            if nxt is MISSING or nxt is None or nxt == "":
                return
            if not isinstance(nxt, (str, int)) or isinstance(nxt, bool):
                raise Refused(f"the next {'cursor' if isinstance(paging, CursorPaging) else 'link'} at "
                              f"'{paging.next}' is not text", page)
            nxt = str(nxt)
            if isinstance(paging, NextLinkPaging):
                nxt = urljoin(str(resp.url), nxt)
                if origin_of(nxt) != client.origin:
                    raise Refused(f"the next link points to another server ({origin_of(nxt)[1]}); the "
                                  "credentials are not sent there", page)
            if nxt in seen:
                what = "cursor" if isinstance(paging, CursorPaging) else "link"
                raise Refused(f"the server sent the same next {what} twice; stopped to avoid an endless loop",
                              page)
            seen.add(nxt)
            follow = nxt
        page += 1
