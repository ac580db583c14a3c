"""The auth layer in front of the resources: the scope each request needs, and ``/token``.

The router calls :class:`AccessControl` after routing and before any handler; the
credentials themselves (passwords, tokens, challenges) are :mod:`fakeregistry.auth`'s.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from fakeregistry.auth import AuthConfig, Authenticator, Scope
from fakeregistry.errors import RegistryError
from fakeregistry.replies import json_reply
from fakeregistry.routes import Endpoints, Match

_PULL = frozenset({"pull"})
_PUSH = frozenset({"pull", "push"})
_ACTIONS = {"GET": _PULL, "HEAD": _PULL,
            "DELETE": frozenset({"delete"})}
"""What a request on a repository needs, by method, as distribution's app asks its access
controller: a write (POST, PUT, PATCH) needs pull and push."""


class AccessControl:
    """Decides whether a routed request may reach its handler; serves tokens."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.authenticator = Authenticator(config)

    def endpoints(self) -> Endpoints:
        return {"token": {"GET": self.token}}

    def __call__(self, request: Request, found: Match) -> None:
        """Raise 401/403 unless the request's credentials grant what it needs."""
        if self.config.mode == "none" or found.endpoint == "token":
            return
        self.authenticator.authorize(request.headers.get("Authorization"),
                                     _needed(request, found), _realm(request))

    def can_pull(self, request: Request, name: str) -> bool:
        """Whether the request's credentials may read *name* (for mount's ``from``)."""
        try:
            self.authenticator.authorize(request.headers.get("Authorization"),
                                         (Scope("repository", name, _PULL),),
                                         _realm(request))
        except RegistryError:
            return False
        return True

    def token(self, request: Request, params: dict[str, str]) -> Response:
        if self.config.mode != "token":
            raise RegistryError("UNSUPPORTED", "this registry does not issue tokens", status=404)
        present, user = self.authenticator.basic_user(request.headers.get("Authorization"))
        if present and user is None:
            raise RegistryError("UNAUTHORIZED", "invalid username or password", headers={
                "WWW-Authenticate": f'Basic realm="{self.config.service}"'})
        scopes = [scope for text in request.args.getlist("scope") for part in text.split()
                  if (scope := Scope.parse(part)) is not None]
        return json_reply(self.authenticator.issue(user, scopes))


def _needed(request: Request, found: Match) -> tuple[Scope, ...]:
    """The accesses a request needs, as distribution's app lists them: by method on the
    repository, plus pull on ``from`` whenever the query names one (a mount, but any
    request with ``from`` alike); ``registry:catalog:*`` for the catalog; none for
    ``/v2/``. Accesses to one repository are merged into one scope."""
    name = found.args.get("name")
    if name is None:
        return (Scope("registry", "catalog", frozenset({"*"})),) if (
            found.endpoint == "catalog") else ()
    needed = {name: _ACTIONS.get(request.method, _PUSH)}
    source = request.args.get("from", "")
    if source:
        needed[source] = needed.get(source, frozenset()) | _PULL
    return tuple(Scope("repository", repo, actions) for repo, actions in needed.items())


def _realm(request: Request) -> str:
    return request.host_url + "token"
