"""The URL map of the distribution API and the WSGI app that dispatches to resources.

Routing is by path only (werkzeug's :class:`~werkzeug.routing.Map`); the method is
looked up in the matched endpoint's handlers afterwards, so a known path with a wrong
method is 405 UNSUPPORTED with ``Allow``, not a fall-through to another route. The
repository name is a :class:`RepositoryName` (it spans slashes, and the longest name
wins, as distribution's router does); its grammar is checked before any handler runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.wrappers import Request, Response

from fakeregistry.backend import Backend
from fakeregistry.errors import RegistryError
from fakeregistry.grammar import check_name, routable
from fakeregistry.replies import error_reply, not_found

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

Handler = Callable[[Request, dict[str, str]], Response]
Endpoints = Mapping[str, Mapping[str, Handler]]
"""Endpoint name -> HTTP method -> handler; GET also answers HEAD."""


class Resource(Protocol):
    """One resource of the API: its handlers by endpoint and method."""

    def endpoints(self) -> Endpoints: ...


Guard = Callable[[Request, "Match"], None]
"""Raises the registry error of a request that may not reach its handler (auth)."""


class RepositoryName(BaseConverter):
    """A repository name: one or more path components, slashes included."""

    regex = r".+"
    part_isolating = False


URLS = Map([
    Rule("/v2/", endpoint="base", strict_slashes=False),
    Rule("/token", endpoint="token"),
    Rule("/v2/_catalog", endpoint="catalog"),
    Rule("/v2/<repository:name>/tags/list", endpoint="tags"),
    Rule("/v2/<repository:name>/manifests/<reference>", endpoint="manifest"),
    Rule("/v2/<repository:name>/blobs/uploads/", endpoint="uploads", strict_slashes=False),
    Rule("/v2/<repository:name>/blobs/uploads/<session>", endpoint="upload"),
    Rule("/v2/<repository:name>/blobs/<digest>", endpoint="blob"),
    Rule("/v2/<repository:name>/referrers/<digest>", endpoint="referrers"),
], converters={"repository": RepositoryName}, merge_slashes=False)

_MATCH_KEY = "fakeregistry.route"


@dataclass(frozen=True)
class Match:
    endpoint: str
    args: dict[str, str]


def match(environ: WSGIEnvironment) -> Match | None:
    """The route of a request, matched once and kept in the environ for later layers."""
    if _MATCH_KEY not in environ:
        environ[_MATCH_KEY] = _match(environ.get("PATH_INFO") or "/")
    found: Match | None = environ[_MATCH_KEY]
    return found


def _match(path: str) -> Match | None:
    # werkzeug's map takes "/v2//" for "/v2/" (as werkzeug, not as distribution, would).
    if path.endswith("//"):
        return None
    try:
        endpoint, args = URLS.bind("registry").match(path, method="GET")
    except HTTPException:
        return None
    return Match(str(endpoint), {key: str(value) for key, value in args.items()})


def repository(environ: WSGIEnvironment) -> str | None:
    """The repository a request names, valid or not (faults and auth match on it)."""
    found = match(environ)
    return found.args.get("name") if found is not None else None


class Router:
    """The resources as one WSGI app: route, method, name grammar, guard, handler.

    The guard (auth) runs after the name check, as distribution's router does not match
    an invalid name at all (so auth never sees one), and the name goes into the
    challenge's scope.

    A :class:`RegistryError` becomes the spec's error body; with the profile's
    ``grammar_errors_not_found`` a bad name or tag is the plain 404 of a path that
    matches no route, as distribution's router answers it.
    """

    def __init__(self, backend: Backend, endpoints: Endpoints, guard: Guard) -> None:
        self._backend = backend
        self._guard = guard
        self._endpoints = {name: _with_head(methods) for name, methods in endpoints.items()}

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        found = match(request.environ)
        if found is None or (found.endpoint == "referrers"
                             and not self._backend.profile.referrers):
            return not_found()  # without the referrers API the route does not exist
        try:
            methods = self._endpoints[found.endpoint]
            handler = methods.get(request.method)
            if handler is None:
                raise RegistryError("UNSUPPORTED", f"method {request.method} not allowed on "
                                    f"{request.path}", headers={"Allow": ", ".join(methods)})
            if "name" in found.args:
                check_name(found.args["name"])
            if self._backend.profile.grammar_errors_not_found and not routable(found.args):
                return not_found()  # before auth: distribution's router matches no route
            self._guard(request, found)
            return handler(request, found.args)
        except RegistryError as error:
            if (error.code in {"TAG_INVALID", "NAME_INVALID"}
                    and self._backend.profile.grammar_errors_not_found):
                return not_found()
            return error_reply(error)
        except ClientDisconnected:
            return error_reply(RegistryError("BLOB_UPLOAD_INVALID",
                                             "the request body ended early"))


def _with_head(methods: Mapping[str, Handler]) -> dict[str, Handler]:
    table = {method.upper(): handler for method, handler in methods.items()}
    if "GET" in table:
        table.setdefault("HEAD", table["GET"])
    return table
