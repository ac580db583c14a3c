"""Response shapes every resource uses: JSON, bodiless, errors, and the plain 404."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.wrappers import Response

from fakeregistry.errors import RegistryError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")


JSON = "application/json; charset=utf-8"


def json_body(value: object) -> bytes:
    """Compact JSON and a newline, byte for byte what distribution's Go encoder writes."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def json_reply(value: object, content_type: str = JSON) -> Response:
    return Response(json_body(value), 200, content_type=content_type)


def empty(status: int) -> Response:
    """A bodiless answer without werkzeug's default text/plain Content-Type."""
    response = Response(b"", status)
    del response.headers["Content-Type"]
    return response


def not_found() -> Response:
    """What distribution answers for a path no route matches (not a spec error body)."""
    return Response("404 page not found\n", 404, content_type="text/plain; charset=utf-8")


def error_reply(error: RegistryError) -> Response:
    """The spec's ``{"errors": [...]}`` body with the error's status and headers."""
    return Response(error.body(), error.status, headers=error.headers, content_type=JSON)


def versioned(app: WSGIApplication) -> WSGIApplication:
    """Every answer names the API version, as distribution's do (errors and 404s too)."""

    def wrapped(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]],
                  exc_info: object = None, /) -> object:
            headers = [h for h in headers if h[0] != API_VERSION_HEADER[0]]
            return start_response(status, [*headers, API_VERSION_HEADER],
                                  exc_info)  # type: ignore[arg-type]

        return app(environ, start)  # type: ignore[arg-type]

    return wrapped
