"""``/v2/<name>/referrers/<digest>``: manifests whose subject is a digest (spec v1.1)."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from fakeregistry.backend import Backend
from fakeregistry.grammar import parse_digest
from fakeregistry.replies import json_reply
from fakeregistry.routes import Endpoints
from harness.model import mediatype


class Referrers:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def endpoints(self) -> Endpoints:
        return {"referrers": {"GET": self.list_referrers}}

    def list_referrers(self, request: Request, params: dict[str, str]) -> Response:
        backend = self._backend
        subject = parse_digest(params["digest"])
        wanted = request.args.get("artifactType")
        with backend.state.lock:
            repo = backend.state.repository(params["name"])
            found = [] if repo is None else [
                (digest, m) for digest, m in repo.manifests.items() if m.subject == subject]
        descriptors = []
        for digest, stored in sorted(found, key=lambda item: str(item[0])):
            if wanted is not None and stored.artifact_type != wanted:
                continue
            descriptor: dict[str, object] = {"mediaType": stored.media_type,
                                             "digest": str(digest), "size": stored.size}
            if stored.artifact_type:
                descriptor["artifactType"] = stored.artifact_type
            if stored.annotations:
                descriptor["annotations"] = stored.annotations
            descriptors.append(descriptor)
        response = json_reply({"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX,
                               "manifests": descriptors}, content_type=mediatype.OCI_INDEX)
        if wanted is not None:
            response.headers["OCI-Filters-Applied"] = "artifactType"
        return response
