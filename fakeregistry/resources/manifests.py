"""``/v2/<name>/manifests/<reference>``: GET and HEAD, PUT, DELETE by tag or digest."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from fakeregistry import inspection
from fakeregistry.backend import Backend
from fakeregistry.errors import RegistryError
from fakeregistry.grammar import check_tag, parse_digest
from fakeregistry.replies import empty
from fakeregistry.resources.negotiation import Negotiator, Served
from fakeregistry.routes import Endpoints
from fakeregistry.state import Repository, StoredManifest
from harness.model import mediatype
from harness.model.digest import Digest

_UNTYPED = {"sniff": None, "schema1": mediatype.DOCKER_V2S1_SIGNED_MANIFEST}


class Manifests:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._negotiator = Negotiator(backend)

    def endpoints(self) -> Endpoints:
        return {"manifest": {"GET": self.get, "PUT": self.put, "DELETE": self.delete}}

    def get(self, request: Request, params: dict[str, str]) -> Response:
        backend = self._backend
        name, reference = params["name"], params["reference"]
        self._check_readable(reference)
        with backend.state.lock:
            repo = self._repository(name, reference)
            digest = _resolve(repo, reference)
            stored = repo.manifests[digest]
        served = self._negotiator.serve(request, name, reference, Served(
            stored.media_type, backend.blobs.read(digest), digest))
        response = Response(served.data, 200, content_type=served.media_type)
        response.headers["Docker-Content-Digest"] = str(served.digest)
        response.headers["Content-Length"] = str(len(served.data))
        response.headers["Etag"] = f'"{served.digest}"'
        return response

    def put(self, request: Request, params: dict[str, str]) -> Response:
        backend = self._backend
        name, reference = params["name"], params["reference"]
        by_digest = parse_digest(reference) if ":" in reference else None
        if by_digest is None:
            check_tag(reference)
        data = self._read_body(request)
        parsed = inspection.inspect(data, request.headers.get("Content-Type"),
                                    by_digest.algorithm if by_digest else "sha256",
                                    schema1_allowed=backend.profile.schema1,
                                    untyped=_UNTYPED[backend.profile.untyped_manifest])
        if by_digest is not None and parsed.digest != by_digest:
            raise RegistryError("DIGEST_INVALID",
                                f"manifest digest is {parsed.digest}, not {by_digest}",
                                detail={"computed": str(parsed.digest)})
        with backend.state.lock:
            repo = backend.state.repository(name) or Repository()
            missing = sorted(str(d) for d in parsed.blobs if not backend.has_blob(repo, d))
            missing += sorted(str(d) for d in parsed.children if d not in repo.manifests)
            if missing:
                raise RegistryError("MANIFEST_BLOB_UNKNOWN",
                                    f"manifest references unknown content {missing[0]}",
                                    detail={"missing": missing})
            backend.blobs.put_bytes(parsed.digest, data)
            repo = backend.state.ensure(name)
            repo.manifests[parsed.digest] = StoredManifest(
                media_type=parsed.media_type, size=len(data),
                references=frozenset(parsed.blobs | parsed.children), subject=parsed.subject,
                artifact_type=parsed.artifact_type, annotations=parsed.annotations)
            if by_digest is None:
                repo.tags[reference] = parsed.digest
            backend.state.save()
        response = empty(201)
        response.headers["Location"] = f"/v2/{name}/manifests/{parsed.digest}"
        response.headers["Docker-Content-Digest"] = str(parsed.digest)
        if parsed.subject is not None and backend.profile.referrers:
            # Only a registry with the referrers API says so; oras believes the header
            # and skips its tag-schema fallback, so a registry without it must not.
            response.headers["OCI-Subject"] = str(parsed.subject)
        return response

    def _repository(self, name: str, reference: str) -> Repository:
        """The repository (state lock held); a missing one is the profile's error."""
        if (self._backend.state.repository(name) is None
                and self._backend.profile.manifest_in_unknown_repository == "MANIFEST_UNKNOWN"):
            raise _unknown(reference)
        return self._backend.repository(name)

    def _check_readable(self, reference: str) -> None:
        """A reference outside the grammar names no manifest: 404 MANIFEST_UNKNOWN for a
        read, as distribution answers (its router matches no such path: a plain 404 in
        profiles with ``grammar_errors_not_found``). A PUT keeps 400 TAG_INVALID."""
        try:
            if ":" in reference:
                parse_digest(reference)
            else:
                check_tag(reference)
        except RegistryError as error:
            if self._backend.profile.grammar_errors_not_found and error.code == "TAG_INVALID":
                raise
            raise _unknown(reference) from None

    def _read_body(self, request: Request) -> bytes:
        profile = self._backend.profile
        limit = profile.manifest_size_limit
        data = b""
        if request.content_length is None or request.content_length <= limit:
            data = request.stream.read(limit + 1)
        if len(data) <= limit and (request.content_length or 0) <= limit:
            return data
        message = f"manifest is larger than {limit} bytes"
        if profile.oversize_manifest_invalid:
            raise RegistryError("MANIFEST_INVALID", message)
        raise RegistryError("SIZE_INVALID", message, status=413)

    def delete(self, request: Request, params: dict[str, str]) -> Response:
        backend = self._backend
        backend.require_delete()
        name, reference = params["name"], params["reference"]
        is_tag = ":" not in reference
        if is_tag:
            check_tag(reference)
        else:
            parse_digest(reference)  # DIGEST_INVALID before the repository is looked at
        if is_tag and not backend.profile.delete_by_tag:
            raise RegistryError("DIGEST_INVALID", f"{reference} is not a digest: "
                                "this registry deletes manifests by digest only")
        with backend.state.lock:
            repo = self._repository(name, reference)
            digest = _resolve(repo, reference)
            if is_tag:
                del repo.tags[reference]
            else:
                del repo.manifests[digest]
                for tag in [t for t, d in repo.tags.items() if d == digest]:
                    del repo.tags[tag]
            backend.state.save()
        return empty(202)


def _resolve(repo: Repository, reference: str) -> Digest:
    """Tag or digest to a stored manifest's digest; MANIFEST_UNKNOWN otherwise."""
    if ":" in reference:
        digest = parse_digest(reference)
        if digest in repo.manifests:
            return digest
    else:
        check_tag(reference)
        digest_or_none = repo.tags.get(reference)
        if digest_or_none is not None:
            return digest_or_none
    raise _unknown(reference)


def _unknown(reference: str) -> RegistryError:
    return RegistryError("MANIFEST_UNKNOWN", f"manifest {reference} is not in this repository",
                         detail={"reference": reference})
