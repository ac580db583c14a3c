"""``/v2/<name>/tags/list`` and ``/v2/_catalog``: sorted names, ``n``/``last`` pages."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from fakeregistry.backend import Backend
from fakeregistry.errors import RegistryError
from fakeregistry.replies import json_reply
from fakeregistry.routes import Endpoints


class Tags:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def endpoints(self) -> Endpoints:
        return {"tags": {"GET": self.list_tags}, "catalog": {"GET": self.catalog}}

    def catalog(self, request: Request, params: dict[str, str]) -> Response:
        with self._backend.state.lock:
            names = sorted(self._backend.state.repositories)
        if self._backend.profile.catalog_pages == "distribution":
            page, link = _distribution_catalog(request, names)
        else:
            page, link = self._paginate(request, names, sort=True)
        return _page(json_reply({"repositories": page}), link)

    def list_tags(self, request: Request, params: dict[str, str]) -> Response:
        profile = self._backend.profile
        name = params["name"]
        with self._backend.state.lock:
            tags = list(self._backend.repository(name).tags)
        if not tags and profile.empty_tags_unknown:
            raise RegistryError("NAME_UNKNOWN", f"repository {name} has no tags",
                                detail={"name": name})
        if profile.tags_paginate:
            page, link = self._paginate(request, tags, sort=profile.tags_sorted)
        else:
            page, link = tags, None
        if profile.tags_sorted:
            page = sorted(page)
        return _page(json_reply({"name": name, "tags": page}), link)

    def _paginate(self, request: Request, items: list[str],
                  sort: bool) -> tuple[list[str], str | None]:
        """Apply ``n``/``last`` (spec: ``last`` excluded) and the profile's page cap."""
        text = request.args.get("n")
        limit = self._backend.profile.tag_page_limit
        if text is not None:
            # ASCII digits only (isdigit() also passes "²"), and no more than an int64
            # holds: what Go's strconv.Atoi accepts, and never int()'s digit-limit error.
            if not re.fullmatch(r"[0-9]{1,19}", text):
                raise RegistryError("PAGINATION_NUMBER_INVALID", f"n={text!r} is not a number")
            limit = int(text) if limit is None else min(limit, int(text))
        last = request.args.get("last")
        if sort:
            items = sorted(items)
            if last is not None:
                items = [item for item in items if item > last]
        if limit is None or len(items) <= limit:
            return items, None
        page = items[:limit]
        if not page:
            return page, None
        query = urlencode({"n": limit, "last": page[-1]})
        return page, f'<{request.path}?{query}>; rel="next"'


_CATALOG_DEFAULT, _CATALOG_MAX = 100, 1000


def _distribution_catalog(request: Request, names: list[str]) -> tuple[list[str], str | None]:
    """distribution 2.8's catalog page (registry/handlers/catalog.go): ``n`` as Go's
    Atoi reads it, ignored when it is not an integer or negative; names after ``last``
    in path order (``/`` sorts before any other byte); the next page's Link with its
    query keys sorted, as Go's url.Values encodes them."""
    limit = _CATALOG_DEFAULT
    text = request.args.get("n", "")
    if re.fullmatch(r"[+-]?[0-9]{1,19}", text) and -2**63 <= int(text) < 2**63:
        if int(text) > _CATALOG_MAX:
            raise RegistryError("PAGINATION_NUMBER_INVALID", f"n={text} is over {_CATALOG_MAX}",
                                detail={"n": int(text)})
        limit = int(text) if int(text) >= 0 else limit
    last = _path_order(request.args.get("last", ""))
    items = sorted((name for name in names if _path_order(name) > last), key=_path_order)
    if len(items) <= limit:
        return items, None
    page = items[:limit]
    if not page:
        return page, None
    return page, f'<{request.path}?{urlencode({"last": page[-1], "n": limit})}>; rel="next"'


def _path_order(name: str) -> str:
    return name.replace("/", "\x00")


def _page(response: Response, link: str | None) -> Response:
    if link:
        response.headers["Link"] = link
    return response
