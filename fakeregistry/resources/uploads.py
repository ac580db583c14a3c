"""``/v2/<name>/blobs/uploads/``: sessions, chunks, monolithic uploads and mounts.

A session's bytes become a blob only when the client's digest is verified
(:meth:`Uploads.complete`); a cancelled, failed or expired session leaves nothing
visible (the table of open sessions, their lifetime and limit: :mod:`fakeregistry.sessions`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import cast

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response

from fakeregistry.backend import Backend
from fakeregistry.errors import RegistryError
from fakeregistry.grammar import parse_digest
from fakeregistry.replies import empty
from fakeregistry.routes import Endpoints
from fakeregistry.sessions import Upload, UploadSessions
from fakeregistry.storage import COPY_CHUNK, UploadBuffer
from harness.model.digest import Digest

CanPull = Callable[[Request, str], bool]
"""Whether a request's credentials may read a repository (mount's ``from``)."""


class Uploads:
    def __init__(self, backend: Backend, can_pull: CanPull, sessions: UploadSessions) -> None:
        self._backend = backend
        self._can_pull = can_pull
        self._sessions = sessions

    def endpoints(self) -> Endpoints:
        return {"uploads": {"POST": self.start},
                "upload": {"GET": self.status, "PATCH": self.patch, "PUT": self.finish,
                           "DELETE": self.cancel}}

    def start(self, request: Request, params: dict[str, str]) -> Response:
        profile = self._backend.profile
        name = params["name"]
        mount = request.args.get("mount")
        if mount is not None:
            mounted = self._mount(request, name, parse_digest(mount), request.args.get("from"))
            if mounted is not None:
                return mounted
        digest_text = request.args.get("digest")
        upload = Upload(name, self._backend.blobs.new_upload())
        if digest_text is not None and profile.monolithic_post:
            digest = parse_digest(digest_text)
            try:
                _copy_body(request, upload.buffer)
                return self.complete(upload, digest)
            finally:
                upload.buffer.discard()
        try:
            session = self._sessions.open(upload)
        except RegistryError:
            upload.buffer.discard()
            raise
        response = _session_response(name, session, upload, 202)
        if profile.chunk_min_length:
            response.headers["OCI-Chunk-Min-Length"] = str(profile.chunk_min_length)
        return response

    def _mount(self, request: Request, name: str, digest: Digest,
               source: str | None) -> Response | None:
        """A 201 when *digest* can be linked from *source*; None for a normal session."""
        backend, profile = self._backend, self._backend.profile
        if source is None:
            if profile.mount_without_from == "invalid":
                raise RegistryError("BLOB_UPLOAD_INVALID", "mount needs a from parameter")
            return None
        if profile.mount == "disabled":
            return None
        with backend.state.lock:
            origin = backend.state.repository(source)
            if origin is None:
                if profile.mount_unknown_from == "unauthorized":
                    raise RegistryError("UNAUTHORIZED", f"repository {source} is not known")
                return None
            readable = backend.has_blob(origin, digest) and (
                profile.mount != "referenced" or digest in origin.referenced_blobs())
        if not readable or not self._can_pull(request, source):
            return None
        backend.link(name, digest)
        return blob_created(name, digest)

    def status(self, request: Request, params: dict[str, str]) -> Response:
        upload = self._sessions.find(params["session"], params["name"])
        return _session_response(params["name"], params["session"], upload, 204)

    def patch(self, request: Request, params: dict[str, str]) -> Response:
        with self._sessions.held(params["session"], params["name"]) as upload:
            self._append(request, params["session"], upload)
        return _session_response(params["name"], params["session"], upload, 202)

    def _append(self, request: Request, session: str, upload: Upload) -> None:
        """Write a PATCH/PUT body at the session's offset, checking Content-Range."""
        header = request.headers.get("Content-Range")
        if header is None or not self._backend.profile.chunk_ranges_checked:
            self._receive(request, session, upload)
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
        written = self._receive(request, session, upload)
        if written != expected:
            raise RegistryError("SIZE_INVALID",
                                f"chunk has {written} bytes, Content-Range says {expected}")

    def _receive(self, request: Request, session: str, upload: Upload) -> int:
        """Append the body to the session; a body that ends early ends the session, so
        no part of it is ever taken for the whole (the client cannot know what arrived)."""
        try:
            return _copy_body(request, upload.buffer)
        except ClientDisconnected:
            self._end(session, upload)
            if (self._backend.profile.short_body == "client-closed"
                    and request.content_length is not None):
                raise RegistryError("UNKNOWN", "client disconnected", status=499) from None
            raise RegistryError("BLOB_UPLOAD_INVALID", "the request body ended early; "
                                "the upload is cancelled") from None

    def finish(self, request: Request, params: dict[str, str]) -> Response:
        session, name = params["session"], params["name"]
        self._sessions.find(session, name)  # unknown is reported before a bad digest
        digest_text = request.args.get("digest")
        if digest_text is None:
            raise RegistryError("DIGEST_INVALID", "the digest parameter is required")
        digest = parse_digest(digest_text)
        with self._sessions.held(session, name) as upload:
            self._append(request, session, upload)
            try:
                response = self.complete(upload, digest)
            except RegistryError as error:
                if not (error.code == "DIGEST_INVALID"
                        and self._backend.profile.upload_survives_bad_digest):
                    self._end(session, upload)
                raise
            self._end(session, upload)
            return response

    def _end(self, session: str, upload: Upload) -> None:
        self._sessions.close(session)
        upload.buffer.discard()

    def complete(self, upload: Upload, digest: Digest) -> Response:
        """Store the upload as blob *digest* if its content has that digest."""
        backend = self._backend
        if not digest.supported:
            raise RegistryError("DIGEST_INVALID", f"digest algorithm {digest.algorithm} "
                                "is not supported")
        actual = upload.buffer.digest(digest.algorithm)
        if actual != digest:
            raise RegistryError("DIGEST_INVALID", f"content is {actual}, not {digest}",
                                detail={"computed": str(actual)})
        with backend.state.lock:
            if backend.blobs.size(digest) is None:
                backend.blobs.store_upload(upload.buffer, digest)
            backend.link(upload.repository, digest)
        return blob_created(upload.repository, digest)

    def cancel(self, request: Request, params: dict[str, str]) -> Response:
        with self._sessions.held(params["session"], params["name"]) as upload:
            self._end(params["session"], upload)
        return empty(204)


def blob_created(name: str, digest: Digest) -> Response:
    response = empty(201)
    response.headers["Location"] = f"/v2/{name}/blobs/{digest}"
    response.headers["Docker-Content-Digest"] = str(digest)
    return response


def _session_response(name: str, session: str, upload: Upload, status: int) -> Response:
    response = empty(status)
    response.headers["Location"] = f"/v2/{name}/blobs/uploads/{session}"
    response.headers["Range"] = f"0-{max(upload.buffer.size - 1, 0)}"
    response.headers["Docker-Upload-UUID"] = session
    return response


def _parse_content_range(header: str) -> tuple[int, int]:
    # At most int64's 19 digits, as Go parses them (and int() refuses 4300+ digits).
    found = re.fullmatch(r"\s*(?:bytes[ =])?([0-9]{1,19})-([0-9]{1,19})\s*", header)
    if not found or int(found[2]) < int(found[1]):
        raise RegistryError("RANGE_INVALID", f"Content-Range {header!r} is not start-end")
    return int(found[1]), int(found[2])


def _copy_body(request: Request, buffer: UploadBuffer) -> int:
    """Stream the request body into *buffer*; return how many bytes it had, or raise
    ClientDisconnected when it ends before its Content-Length.

    Read into one reused buffer, never past Content-Length (werkzeug would read into a
    buffer of its own and copy), so the served fake copies each byte only from the
    socket to here (:class:`fakeregistry.bodies.KnownLength`) and on to the hash and
    the spool file."""
    stream = cast(io.RawIOBase, request.stream)
    length, written = request.content_length, 0
    # No bigger than the body: a 1 MiB buffer for every small upload made each server
    # thread's malloc arena keep a megabyte (peak RSS of 100 small pushes: 94 -> 67 MB).
    view = memoryview(bytearray(COPY_CHUNK if length is None else min(COPY_CHUNK, length)))
    while count := stream.readinto(
            view if length is None else view[:min(COPY_CHUNK, length - written)]):
        buffer.write(view[:count])
        written += count
    if length is not None and written < length:
        raise ClientDisconnected()
    return written
