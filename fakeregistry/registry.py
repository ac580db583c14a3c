"""The registry: state, routing and the handlers of the OCI distribution API.

One :class:`Registry` is the whole server-side state. :attr:`Registry.wsgi_app` is a
plain WSGI callable, so the same object serves in process (through ``responses``) and
over a socket (cheroot, in :mod:`fakeregistry.server`). Handlers raise :class:`RegistryError` for
anything the client got wrong; the error becomes the spec's JSON body.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlencode

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response

from fakeregistry import manifests
from fakeregistry.auth import AuthConfig, Authenticator, Scope
from fakeregistry.errors import RegistryError
from fakeregistry.faults import FaultRule, Faults
from fakeregistry.profiles import Profile, get_profile
from fakeregistry.state import Repository, State, StoredManifest
from fakeregistry.storage import COPY_CHUNK, SPOOL_THRESHOLD, BlobStore, UploadBuffer
from fakeregistry.transcript import Entry, Transcript, redact
from harness.model import mediatype
from harness.model.convert import convert_manifest
from harness.model.digest import Digest, DigestError
from harness.model.manifest import manifest_digest, parse_manifest
from harness.model.reference import ReferenceError, validate_repository, validate_tag
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")
Handler = Callable[[Request, dict[str, str]], Response]


@dataclass
class Upload:
    """An open upload session; its lock serialises chunks for the same session."""

    repository: str
    buffer: UploadBuffer
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    handlers: dict[str, Handler]


def _route(pattern: str, **handlers: Handler) -> Route:
    methods = {m.upper(): h for m, h in handlers.items()}
    if "GET" in methods:
        methods.setdefault("HEAD", methods["GET"])
    return Route(re.compile(pattern), methods)


class Registry:
    """A complete registry: blobs, uploads, manifests, tags, auth, faults and a transcript."""

    def __init__(self, profile: str | Profile = "spec", *, auth: AuthConfig | None = None,
                 storage_dir: Path | None = None, seed: int = 0,
                 record: Path | None = None,
                 spool_threshold: int = SPOOL_THRESHOLD) -> None:
        self.profile = get_profile(profile)
        self.auth = auth or AuthConfig()
        self._authenticator = Authenticator(self.auth)
        self.blobs = BlobStore(storage_dir, spool_threshold)
        self.state = State(storage_dir / "repositories.json" if storage_dir else None)
        self.transcript = Transcript(record)
        self.faults = Faults(seed)
        self._uploads: dict[str, Upload] = {}
        self._uploads_lock = threading.Lock()
        name = r"(?P<name>.+)"
        self._routes = [
            _route(r"/v2/?", get=self.ping),
            _route(r"/token", get=self.token),
            _route(r"/v2/_catalog", get=self.catalog),
            _route(rf"/v2/{name}/tags/list", get=self.list_tags),
            _route(rf"/v2/{name}/manifests/(?P<reference>[^/]+)", get=self.get_manifest,
                   put=self.put_manifest, delete=self.delete_manifest),
            _route(rf"/v2/{name}/blobs/uploads/?", post=self.start_upload),
            _route(rf"/v2/{name}/blobs/uploads/(?P<session>[^/]+)", get=self.upload_status,
                   patch=self.patch_upload, put=self.finish_upload,
                   delete=self.cancel_upload),
            _route(rf"/v2/{name}/blobs/(?P<digest>[^/]+)", get=self.get_blob,
                   delete=self.delete_blob),
            _route(rf"/v2/{name}/referrers/(?P<digest>[^/]+)", get=self.referrers),
        ]

    # -- WSGI ----------------------------------------------------------------------
    def wsgi_app(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI entry point: faults, dispatch, then a transcript entry per exchange."""
        started, wall = time.perf_counter(), time.time()
        counter = _CountingInput(environ["wsgi.input"])
        environ["wsgi.input"] = counter
        request = Request(environ)
        route, params = self._match(request.path)
        rule = self.faults.pick(request.method, request.path, params.get("name"))
        response = self._respond(request, route, params, rule)
        sent_headers: list[tuple[str, list[tuple[str, str]]]] = []

        def capture(status: str, headers: list[tuple[str, str]],
                    exc_info: object = None, /) -> Callable[[bytes], object]:
            sent_headers.append((status, headers))
            return start_response(status, headers, exc_info)  # type: ignore[arg-type]

        def finish(sent: int) -> None:
            status, headers = sent_headers[0] if sent_headers else ("0", [])
            self.transcript.add(Entry(
                method=request.method, path=request.path,
                query=request.query_string.decode("latin-1"), status=int(status.split()[0]),
                request_headers=redact(list(request.headers.items())),
                response_headers=redact(headers), request_bytes=counter.count,
                response_bytes=sent, started=wall,
                duration_ms=(time.perf_counter() - started) * 1000,
                fault=rule.describe() if rule is not None else None))

        return _Body(response(environ, capture), finish, rule, environ.get("werkzeug.socket"))

    def _respond(self, request: Request, route: Route | None, params: dict[str, str],
                 rule: FaultRule | None) -> Response:
        """The handler's response, or the fault's instead of or on top of it."""
        if rule is None:
            return self._dispatch(request, route, params)
        if rule.latency:
            time.sleep(rule.latency)
        if rule.status is not None or rule.retry_after is not None:
            return _fault_response(rule)
        response = self._dispatch(request, route, params)
        if rule.wrong_digest and "Docker-Content-Digest" in response.headers:
            response.headers["Docker-Content-Digest"] = str(Digest.from_bytes(b"wrong digest"))
        if rule.truncate is not None:
            response.headers["Content-Length"] = str(
                min(rule.truncate, int(response.headers.get("Content-Length", "0"))))
        return response

    def _match(self, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self._routes:
            found = route.pattern.fullmatch(path)
            if found:
                return route, found.groupdict()
        return None, {}

    def _dispatch(self, request: Request, route: Route | None,
                  params: dict[str, str]) -> Response:
        try:
            if route is None:
                return _not_found()
            handler = route.handlers.get(request.method)
            if handler is None:
                raise RegistryError("UNSUPPORTED", f"method {request.method} not allowed on "
                                    f"{request.path}", headers={"Allow": ", ".join(route.handlers)})
            # The name first: it goes into the auth challenge's scope, and distribution's
            # router does not match an invalid name at all, so auth never sees one.
            if "name" in params:
                _check_name(params["name"])
            self._authorize(request, params)
            response = handler(request, params)
        except RegistryError as error:
            if (error.code in {"TAG_INVALID", "NAME_INVALID"}
                    and self.profile.grammar_errors_not_found):
                return _not_found()
            response = Response(error.body(), error.status, headers=error.headers,
                                content_type="application/json")
        except ClientDisconnected:
            ended = RegistryError("BLOB_UPLOAD_INVALID", "the request body ended early")
            response = Response(ended.body(), ended.status, content_type="application/json")
        response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
        return response

    def _authorize(self, request: Request, params: dict[str, str]) -> None:
        if self.auth.mode == "none" or request.path == "/token":
            return
        realm = request.host_url + "token"
        name = params.get("name")
        needed: Scope | None = None
        if request.path.rstrip("/") == "/v2/_catalog":
            needed = Scope("registry", "catalog", frozenset({"*"}))
        elif name is not None:
            action = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(
                request.method, "push")
            needed = Scope("repository", name, frozenset({action}))
        self._authenticator.authorize(request.headers.get("Authorization"), needed, realm)

    def _can_pull(self, request: Request, name: str) -> bool:
        """Whether the request's credentials may read *name* (for mount's ``from``)."""
        try:
            self._authenticator.authorize(request.headers.get("Authorization"),
                                          Scope("repository", name, frozenset({"pull"})),
                                          request.host_url + "token")
        except RegistryError:
            return False
        return True

    # -- base, token, catalog -------------------------------------------------------
    def ping(self, request: Request, params: dict[str, str]) -> Response:
        return _json({})

    def token(self, request: Request, params: dict[str, str]) -> Response:
        if self.auth.mode != "token":
            raise RegistryError("UNSUPPORTED", "this registry does not issue tokens", status=404)
        present, user = self._authenticator.basic_user(request.headers.get("Authorization"))
        if present and user is None:
            raise RegistryError("UNAUTHORIZED", "invalid username or password")
        scopes = [scope for text in request.args.getlist("scope") for part in text.split()
                  if (scope := Scope.parse(part)) is not None]
        return _json(self._authenticator.issue(user, scopes))

    def catalog(self, request: Request, params: dict[str, str]) -> Response:
        with self.state.lock:
            names = sorted(self.state.repositories)
        page, link = self._paginate(request, names, sort=True)
        response = _json({"repositories": page})
        if link:
            response.headers["Link"] = link
        return response

    def _paginate(self, request: Request, items: list[str],
                  sort: bool) -> tuple[list[str], str | None]:
        """Apply ``n``/``last`` (spec: ``last`` excluded) and the profile's page cap."""
        text = request.args.get("n")
        limit = self.profile.tag_page_limit
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

    # -- tags and referrers ------------------------------------------------------------
    def list_tags(self, request: Request, params: dict[str, str]) -> Response:
        name = params["name"]
        with self.state.lock:
            repo = self._repository(name)
            tags = list(repo.tags)
        if not tags and self.profile.empty_tags_unknown:
            raise RegistryError("NAME_UNKNOWN", f"repository {name} has no tags",
                                detail={"name": name})
        if self.profile.tags_paginate:
            page, link = self._paginate(request, tags, sort=self.profile.tags_sorted)
        else:
            page, link = tags, None
        if self.profile.tags_sorted:
            page = sorted(page)
        response = _json({"name": name, "tags": page})
        if link:
            response.headers["Link"] = link
        return response

    def referrers(self, request: Request, params: dict[str, str]) -> Response:
        if not self.profile.referrers:
            return _not_found()  # the route does not exist, as in registries without it
        subject = _parse_digest(params["digest"])
        wanted = request.args.get("artifactType")
        with self.state.lock:
            repo = self.state.repository(params["name"])
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
        response = _json({"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX,
                          "manifests": descriptors}, content_type=mediatype.OCI_INDEX)
        if wanted is not None:
            response.headers["OCI-Filters-Applied"] = "artifactType"
        return response

    # -- manifests -----------------------------------------------------------------
    def get_manifest(self, request: Request, params: dict[str, str]) -> Response:
        name, reference = params["name"], params["reference"]
        with self.state.lock:
            repo = self._repository(name)
            digest = self._resolve(repo, reference)
            stored = repo.manifests[digest]
        accepted = _accepted_types(request)
        media_type, data = stored.media_type, self.blobs.read(digest)
        by_tag = ":" not in reference
        if self._rewrites_list(media_type, accepted, by_tag):
            digest = _default_platform_child(data)
            with self.state.lock:
                child = repo.manifests.get(digest)
            if child is None:
                raise RegistryError("MANIFEST_UNKNOWN", "the list has no linux/amd64 image")
            media_type, data = child.media_type, self.blobs.read(digest)
        if self._wants_schema1(media_type, accepted, by_tag):
            media_type, data = self._as_schema1(name, reference, data)
            digest = manifest_digest(data)
        elif not self._acceptable(media_type, accepted):
            raise RegistryError(
                "MANIFEST_UNKNOWN", f"manifest of type {media_type} not in the Accept header",
                detail={"accepted": sorted(accepted)})
        response = Response(data, 200, content_type=media_type)
        response.headers["Docker-Content-Digest"] = str(digest)
        response.headers["Content-Length"] = str(len(data))
        response.headers["Etag"] = f'"{digest}"'
        return response

    def _acceptable(self, media_type: str, accepted: set[str]) -> bool:
        if media_type in accepted:
            return True
        if self.profile.negotiation == "distribution":
            return media_type not in manifests.OCI_TYPES
        return not accepted or "*/*" in accepted

    def _rewrites_list(self, media_type: str, accepted: set[str], by_tag: bool) -> bool:
        """distribution 2.x answers a client that does not accept manifest lists with the
        list's linux/amd64 image (by tag only)."""
        return (self.profile.negotiation == "distribution" and by_tag
                and media_type == mediatype.DOCKER_MANIFEST_LIST and media_type not in accepted)

    def _wants_schema1(self, media_type: str, accepted: set[str], by_tag: bool) -> bool:
        """distribution 2.x rewrites schema2 as schema1 for clients that predate it."""
        return (self.profile.negotiation == "distribution" and self.profile.schema1 and by_tag
                and media_type == mediatype.DOCKER_V2S2_MANIFEST and media_type not in accepted)

    def _as_schema1(self, name: str, tag: str, data: bytes) -> tuple[str, bytes]:
        """The schema2 manifest *data* converted to signed schema1 (a fresh key each time,
        as each registry signs with its own); blobs the conversion adds are linked."""
        image = parse_manifest(data, mediatype.DOCKER_V2S2_MANIFEST)
        assert image.config is not None  # validated when it was pushed
        # The config is read whole, so it gets the manifests' cap: any blob can be named.
        if (self.blobs.size(image.config.digest) or 0) > self.profile.manifest_size_limit:
            raise RegistryError("MANIFEST_INVALID", f"config {image.config.digest} is too "
                                "large to serve the manifest as schema1")
        config = self.blobs.read(image.config.digest)
        try:
            conversion = convert_manifest(data, mediatype.DOCKER_V2S2_MANIFEST,
                                          mediatype.DOCKER_V2S1_SIGNED_MANIFEST,
                                          config=config, name=name, tag=tag)
        except HarnessError as exc:  # e.g. a config blob that is not an image config
            raise RegistryError("MANIFEST_INVALID",
                                f"manifest cannot be served as schema1: {exc}") from None
        with self.state.lock:
            for descriptor, blob in conversion.extra_blobs:
                self.blobs.put_bytes(descriptor.digest, blob)
                self.state.ensure(name).blobs.add(descriptor.digest)
            self.state.save()
        return conversion.media_type, conversion.manifest

    def _resolve(self, repo: Repository, reference: str) -> Digest:
        """Tag or digest to a stored manifest's digest; MANIFEST_UNKNOWN otherwise."""
        if ":" in reference:
            digest = _parse_digest(reference)
            if digest in repo.manifests:
                return digest
        else:
            _check_tag(reference)
            digest_or_none = repo.tags.get(reference)
            if digest_or_none is not None:
                return digest_or_none
        raise RegistryError("MANIFEST_UNKNOWN", f"manifest {reference} is not in this repository",
                            detail={"reference": reference})

    def put_manifest(self, request: Request, params: dict[str, str]) -> Response:
        name, reference = params["name"], params["reference"]
        by_digest = _parse_digest(reference) if ":" in reference else None
        if by_digest is None:
            _check_tag(reference)
        data = self._read_manifest_body(request)
        parsed = manifests.inspect(data, request.headers.get("Content-Type"),
                                   by_digest.algorithm if by_digest else "sha256",
                                   schema1_allowed=self.profile.schema1)
        if by_digest is not None and parsed.digest != by_digest:
            raise RegistryError("DIGEST_INVALID",
                                f"manifest digest is {parsed.digest}, not {by_digest}",
                                detail={"computed": str(parsed.digest)})
        with self.state.lock:
            repo = self.state.repository(name) or Repository()
            missing = sorted(str(d) for d in parsed.blobs if not self._has_blob(repo, d))
            missing += sorted(str(d) for d in parsed.children if d not in repo.manifests)
            if missing:
                raise RegistryError("MANIFEST_BLOB_UNKNOWN",
                                    f"manifest references unknown content {missing[0]}",
                                    detail={"missing": missing})
            self.blobs.put_bytes(parsed.digest, data)
            repo = self.state.ensure(name)
            repo.manifests[parsed.digest] = StoredManifest(
                media_type=parsed.media_type, size=len(data),
                references=frozenset(parsed.blobs | parsed.children), subject=parsed.subject,
                artifact_type=parsed.artifact_type, annotations=parsed.annotations)
            if by_digest is None:
                repo.tags[reference] = parsed.digest
            self.state.save()
        response = _empty(201)
        response.headers["Location"] = f"/v2/{name}/manifests/{parsed.digest}"
        response.headers["Docker-Content-Digest"] = str(parsed.digest)
        if parsed.subject is not None:
            response.headers["OCI-Subject"] = str(parsed.subject)
        return response

    def _read_manifest_body(self, request: Request) -> bytes:
        limit = self.profile.manifest_size_limit
        data = b""
        if request.content_length is None or request.content_length <= limit:
            data = request.stream.read(limit + 1)
        if len(data) <= limit and (request.content_length or 0) <= limit:
            return data
        message = f"manifest is larger than {limit} bytes"
        if self.profile.oversize_manifest_invalid:
            raise RegistryError("MANIFEST_INVALID", message)
        raise RegistryError("SIZE_INVALID", message, status=413)

    def delete_manifest(self, request: Request, params: dict[str, str]) -> Response:
        self._require_delete()
        name, reference = params["name"], params["reference"]
        is_tag = ":" not in reference
        if is_tag and not self.profile.delete_by_tag:
            raise RegistryError("DIGEST_INVALID", f"{reference} is not a digest: "
                                "this registry deletes manifests by digest only")
        with self.state.lock:
            repo = self._repository(name)
            digest = self._resolve(repo, reference)
            if is_tag:
                del repo.tags[reference]
            else:
                del repo.manifests[digest]
                for tag in [t for t, d in repo.tags.items() if d == digest]:
                    del repo.tags[tag]
            self.state.save()
        return _empty(202)

    def _require_delete(self) -> None:
        if not self.profile.delete:
            raise RegistryError("UNSUPPORTED", "deletes are disabled on this registry")

    # -- blobs -----------------------------------------------------------------------
    def _repository(self, name: str) -> Repository:
        repo = self.state.repository(name)
        if repo is None:
            raise RegistryError("NAME_UNKNOWN", f"repository {name} is not known",
                                detail={"name": name})
        return repo

    def _has_blob(self, repo: Repository, digest: Digest) -> bool:
        return digest in repo.blobs and self.blobs.size(digest) is not None

    def get_blob(self, request: Request, params: dict[str, str]) -> Response:
        digest = _parse_digest(params["digest"])
        with self.state.lock:
            repo = self.state.repository(params["name"])
            size = self.blobs.size(digest) if repo and digest in repo.blobs else None
        if size is None:
            raise RegistryError("BLOB_UNKNOWN", f"blob {digest} is not in this repository",
                                detail={"digest": str(digest)})
        start, length, status = 0, size, 200
        headers = {"Docker-Content-Digest": str(digest), "Accept-Ranges": "bytes",
                   "Etag": f'"{digest}"'}
        if request.range is not None and len(request.range.ranges) == 1:
            span = request.range.range_for_length(size)
            if span is None:
                raise RegistryError("BLOB_UNKNOWN", f"range {request.headers['Range']} is "
                                    f"outside the blob ({size} bytes)", status=416,
                                    headers={"Content-Range": f"bytes */{size}"})
            start, length, status = span[0], span[1] - span[0], 206
            headers["Content-Range"] = f"bytes {span[0]}-{span[1] - 1}/{size}"
        headers["Content-Length"] = str(length)
        body = () if request.method == "HEAD" else _read_span(self.blobs.open(digest), start,
                                                              length)
        response = Response(body, status, content_type="application/octet-stream",
                            direct_passthrough=True)
        response.headers.update(headers)
        return response

    def delete_blob(self, request: Request, params: dict[str, str]) -> Response:
        self._require_delete()
        digest = _parse_digest(params["digest"])
        with self.state.lock:
            repo = self.state.repository(params["name"])
            if repo is None or digest not in repo.blobs:
                raise RegistryError("BLOB_UNKNOWN", f"blob {digest} is not in this repository",
                                    detail={"digest": str(digest)})
            repo.blobs.discard(digest)
            self.state.save()
        response = _empty(202)
        response.headers["Docker-Content-Digest"] = str(digest)
        return response

    # -- uploads ---------------------------------------------------------------------
    def start_upload(self, request: Request, params: dict[str, str]) -> Response:
        name = params["name"]
        mount = request.args.get("mount")
        if mount is not None:
            mounted = self._mount(request, name, _parse_digest(mount),
                                  request.args.get("from"))
            if mounted is not None:
                return mounted
        digest_text = request.args.get("digest")
        upload = Upload(name, self.blobs.new_upload())
        if digest_text is not None and self.profile.monolithic_post:
            digest = _parse_digest(digest_text)
            try:
                _copy_body(request, upload.buffer)
                return self._commit(upload, digest)
            finally:
                upload.buffer.discard()
        session = uuid.uuid4().hex
        with self._uploads_lock:
            self._uploads[session] = upload
        response = self._session_response(name, session, upload, 202)
        if self.profile.chunk_min_length:
            response.headers["OCI-Chunk-Min-Length"] = str(self.profile.chunk_min_length)
        return response

    def _mount(self, request: Request, name: str, digest: Digest,
               source: str | None) -> Response | None:
        """A 201 when *digest* can be linked from *source*; None for a normal session."""
        profile = self.profile
        if source is None:
            if profile.mount_without_from == "invalid":
                raise RegistryError("BLOB_UPLOAD_INVALID", "mount needs a from parameter")
            return None
        if profile.mount == "disabled":
            return None
        with self.state.lock:
            origin = self.state.repository(source)
            if origin is None:
                if profile.mount_unknown_from == "unauthorized":
                    raise RegistryError("UNAUTHORIZED", f"repository {source} is not known")
                return None
            readable = self._has_blob(origin, digest) and (
                profile.mount != "referenced" or digest in origin.referenced_blobs())
        if not readable or not self._can_pull(request, source):
            return None
        with self.state.lock:
            self.state.ensure(name).blobs.add(digest)
            self.state.save()
        return self._blob_created(name, digest)

    def _blob_created(self, name: str, digest: Digest) -> Response:
        response = _empty(201)
        response.headers["Location"] = f"/v2/{name}/blobs/{digest}"
        response.headers["Docker-Content-Digest"] = str(digest)
        return response

    def _session_response(self, name: str, session: str, upload: Upload,
                          status: int) -> Response:
        response = _empty(status)
        response.headers["Location"] = f"/v2/{name}/blobs/uploads/{session}"
        response.headers["Range"] = f"0-{max(upload.buffer.size - 1, 0)}"
        response.headers["Docker-Upload-UUID"] = session
        return response

    def _session(self, params: dict[str, str]) -> tuple[str, Upload]:
        session = params["session"]
        with self._uploads_lock:
            upload = self._uploads.get(session)
        if upload is None or upload.repository != params["name"]:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {session} is not in progress",
                                detail={"uuid": session})
        return session, upload

    @contextlib.contextmanager
    def _held_session(self, params: dict[str, str]) -> Iterator[tuple[str, Upload]]:
        """The session with its lock held; one finished or cancelled while this request
        waited for the lock is unknown, like any other."""
        session, upload = self._session(params)
        with upload.lock:
            with self._uploads_lock:
                current = self._uploads.get(session)
            if current is not upload:
                raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {session} has ended",
                                    detail={"uuid": session})
            yield session, upload

    def upload_status(self, request: Request, params: dict[str, str]) -> Response:
        session, upload = self._session(params)
        return self._session_response(params["name"], session, upload, 204)

    def patch_upload(self, request: Request, params: dict[str, str]) -> Response:
        with self._held_session(params) as (session, upload):
            self._append(request, upload)
        return self._session_response(params["name"], session, upload, 202)

    def _append(self, request: Request, upload: Upload) -> None:
        """Write a PATCH/PUT body at the session's offset, checking Content-Range."""
        header = request.headers.get("Content-Range")
        if header is None or not self.profile.chunk_ranges_checked:
            _copy_body(request, upload.buffer)
            return
        start, end = _parse_content_range(header)
        if start != upload.buffer.size:
            raise RegistryError("RANGE_INVALID", f"chunk starts at {start}, but the upload "
                                f"has {upload.buffer.size} bytes",
                                headers={"Range": f"0-{max(upload.buffer.size - 1, 0)}"})
        expected = end - start + 1
        if request.content_length is not None and request.content_length != expected:
            raise RegistryError("SIZE_INVALID", f"Content-Length {request.content_length} "
                                f"differs from the Content-Range span {expected}")
        written = _copy_body(request, upload.buffer)
        if written != expected:
            raise RegistryError("SIZE_INVALID",
                                f"chunk has {written} bytes, Content-Range says {expected}")

    def finish_upload(self, request: Request, params: dict[str, str]) -> Response:
        self._session(params)  # an unknown session is reported before a bad digest
        digest_text = request.args.get("digest")
        if digest_text is None:
            raise RegistryError("DIGEST_INVALID", "the digest parameter is required")
        digest = _parse_digest(digest_text)
        with self._held_session(params) as (session, upload):
            self._append(request, upload)
            with self._uploads_lock:
                self._uploads.pop(session, None)
            try:
                return self._commit(upload, digest)
            finally:
                upload.buffer.discard()

    def _commit(self, upload: Upload, digest: Digest) -> Response:
        if not digest.supported:
            raise RegistryError("DIGEST_INVALID", f"digest algorithm {digest.algorithm} "
                                "is not supported")
        actual = upload.buffer.digest(digest.algorithm)
        if actual != digest:
            raise RegistryError("DIGEST_INVALID", f"content is {actual}, not {digest}",
                                detail={"computed": str(actual)})
        with self.state.lock:
            if self.blobs.size(digest) is None:
                self.blobs.commit(upload.buffer, digest)
            self.state.ensure(upload.repository).blobs.add(digest)
            self.state.save()
        return self._blob_created(upload.repository, digest)

    def cancel_upload(self, request: Request, params: dict[str, str]) -> Response:
        with self._held_session(params) as (session, upload):
            with self._uploads_lock:
                del self._uploads[session]
            upload.buffer.discard()
        return _empty(204)


# -- helpers ---------------------------------------------------------------------------
def _json(value: object, content_type: str = "application/json") -> Response:
    return Response(json.dumps(value), 200, content_type=content_type)


def _default_platform_child(data: bytes) -> Digest:
    """The linux/amd64 entry of a stored (so valid) manifest list."""
    for entry in parse_manifest(data, mediatype.DOCKER_MANIFEST_LIST).manifests:
        if entry.platform is not None and (entry.platform.os, entry.platform.architecture) == (
                "linux", "amd64"):
            return entry.digest
    raise RegistryError("MANIFEST_UNKNOWN", "the list has no linux/amd64 image")


def _empty(status: int) -> Response:
    """A bodiless answer without werkzeug's default text/plain Content-Type."""
    response = Response(b"", status)
    del response.headers["Content-Type"]
    return response


def _not_found() -> Response:
    """What distribution answers for a path no route matches (not a spec error body)."""
    response = Response("404 page not found\n", 404, content_type="text/plain; charset=utf-8")
    response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
    return response


def _fault_response(rule: FaultRule) -> Response:
    status = rule.status if rule.status is not None else 429
    code = "TOOMANYREQUESTS" if status == 429 else rule.code
    error = RegistryError(code, f"injected fault ({rule.describe()})", status=status)
    response = Response(error.body(), status, content_type="application/json")
    if rule.retry_after is not None:
        response.headers["Retry-After"] = str(rule.retry_after)
    response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
    return response


def _check_name(name: str) -> None:
    try:
        validate_repository(name)
    except ReferenceError as exc:
        raise RegistryError("NAME_INVALID", str(exc), detail={"name": name}) from None


def _check_tag(tag: str) -> None:
    try:
        validate_tag(tag)
    except ReferenceError as exc:
        raise RegistryError("TAG_INVALID", str(exc), detail={"tag": tag}) from None


def _parse_digest(text: str) -> Digest:
    try:
        return Digest.parse(text)
    except DigestError as exc:
        raise RegistryError("DIGEST_INVALID", str(exc)) from None


def _parse_content_range(header: str) -> tuple[int, int]:
    # At most int64's 19 digits, as Go parses them (and int() refuses 4300+ digits).
    found = re.fullmatch(r"\s*(?:bytes[ =])?([0-9]{1,19})-([0-9]{1,19})\s*", header)
    if not found or int(found[2]) < int(found[1]):
        raise RegistryError("RANGE_INVALID", f"Content-Range {header!r} is not start-end")
    return int(found[1]), int(found[2])


def _accepted_types(request: Request) -> set[str]:
    return {item.split(";")[0].strip() for value in request.headers.getlist("Accept")
            for item in value.split(",") if item.strip()}


def _copy_body(request: Request, buffer: UploadBuffer) -> int:
    """Stream the request body into *buffer*; return how many bytes it had."""
    stream = request.stream
    written = 0
    while chunk := stream.read(COPY_CHUNK):
        buffer.write(chunk)
        written += len(chunk)
    return written


def _read_span(stream: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    with stream:
        stream.seek(start)
        while length > 0:
            chunk = stream.read(min(COPY_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


class _CountingInput:
    """wsgi.input wrapper that counts the request body bytes read."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._stream.readline(size)
        self.count += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _Body:
    """The response iterable: applies truncate/drop faults, counts bytes, then records."""

    def __init__(self, inner: Iterable[bytes], finish: Callable[[int], None],
                 rule: FaultRule | None, sock: object) -> None:
        self._inner = inner
        self._finish = finish
        self._drop_after = rule.drop_after if rule is not None else None
        limits = [] if rule is None else [rule.truncate, rule.drop_after]
        self._limit = min((x for x in limits if x is not None), default=None)
        self._sock = sock
        self._sent = 0
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            piece = chunk if self._limit is None else chunk[: max(self._limit - self._sent, 0)]
            if piece:
                self._sent += len(piece)
                yield piece
            if len(piece) < len(chunk):
                break
        if self._drop_after is not None and self._sent >= self._drop_after:
            self._drop()

    def _drop(self) -> None:
        self.close()  # recorded before the client can see the connection die
        shutdown = getattr(self._sock, "shutdown", None)
        if shutdown is not None:
            shutdown(2)  # SHUT_RDWR: the client sees the connection die mid-body
        raise ConnectionResetError(f"fault: connection dropped after {self._sent} bytes")

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()
        self._finish(self._sent)
