"""The distribution API's resources, one module each, over one :class:`Backend`.

Each resource reads the profile's switches; none knows which registry it imitates.
"""

from __future__ import annotations

from collections.abc import Mapping

from werkzeug.wrappers import Request, Response

from fakeregistry.backend import Backend
from fakeregistry.replies import JSON
from fakeregistry.resources.blobs import Blobs
from fakeregistry.resources.manifests import Manifests
from fakeregistry.resources.referrers import Referrers
from fakeregistry.resources.tags import Tags
from fakeregistry.resources.uploads import CanPull, Uploads
from fakeregistry.routes import Endpoints, Handler, Resource
from fakeregistry.sessions import UploadSessions


def endpoints(backend: Backend, can_pull: CanPull, sessions: UploadSessions) -> Endpoints:
    """Every endpoint of the API, from the base ``/v2/`` to referrers."""
    table: dict[str, Mapping[str, Handler]] = {"base": {"GET": _base}}
    resources: tuple[Resource, ...] = (Blobs(backend), Uploads(backend, can_pull, sessions),
                                       Manifests(backend), Tags(backend), Referrers(backend))
    for resource in resources:
        table.update(resource.endpoints())
    return table


def _base(request: Request, params: dict[str, str]) -> Response:
    """``/v2/``: the API version check; an empty JSON object, without the newline of
    the other JSON answers (distribution writes these two bytes by hand)."""
    return Response(b"{}", 200, content_type=JSON)


