"""Test helpers for the docker:// transport: the mocked registry's address, a one-layer
image pusher, and a stateful upload endpoint on top of ``responses`` with faults to inject.

Only what the upload tests need: sessions, streamed and chunked PATCH (checking
Content-Range like distribution), status GET, PUT ?digest, DELETE, HEAD of blobs.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import requests
import responses

from harness.model import mediatype
from harness.model.digest import Digest
from harness.transports.docker import TRANSPORT
from harness.transports.types import BlobInfo, SystemContext

HOST = "registry.test"
BASE = f"https://{HOST}"
REPO = "ns/app"
UPLOADS = f"{BASE}/v2/{REPO}/blobs/uploads/"
_SESSION = re.compile(re.escape(UPLOADS) + r"(?P<id>[0-9]+)(\?.*)?$")
Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Pushed:
    manifest: bytes
    digest: Digest
    config: bytes
    layer: bytes


def push_image(image: str, ctx: SystemContext, layer: bytes, config: bytes,
               layer_type: str = mediatype.OCI_LAYER_GZIP) -> Pushed:
    """Push a one-layer OCI image to ``docker:``*image* through the transport's contract:
    the layer streamed with its digest unknown, the config with its digest known."""
    with TRANSPORT.parse_reference(image).new_image_destination(ctx) as dest:
        layer_info = dest.put_blob(io.BytesIO(layer), BlobInfo(), False)
        config_info = dest.put_blob(io.BytesIO(config), BlobInfo(Digest.from_bytes(config),
                                                                 len(config)), True)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
            "config": {"mediaType": mediatype.OCI_CONFIG, "digest": str(config_info.digest),
                       "size": config_info.size},
            "layers": [{"mediaType": layer_type, "digest": str(layer_info.digest),
                        "size": layer_info.size}]}).encode()
        dest.put_manifest(manifest, mediatype.OCI_MANIFEST)
        dest.publish()
        assert dest.manifest_digest is not None
        return Pushed(manifest, dest.manifest_digest, config, layer)


def _error(status: int, code: str) -> Reply:
    return status, {}, json.dumps({"errors": [{"code": code, "message": code.lower()}]}).encode()


@dataclass
class UploadFake:
    """Registry-side upload state; set the fault fields to break the next requests."""

    min_chunk: int = 0
    sessions: dict[str, bytearray] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    patches: list[tuple[str | None, int]] = field(default_factory=list)  # (Content-Range, len)
    # Break the connection after this many body bytes of the next PATCH (kept or lost).
    drop_patch_after: list[int] = field(default_factory=list)
    keep_dropped_bytes: bool = True
    forget_session_on_drop: bool = False
    # A busy distribution: the kept bytes of a broken PATCH are written only after the
    # next status request was answered, so that status is stale.
    write_dropped_late: bool = False
    late: dict[str, bytes] = field(default_factory=dict)
    announce_digest: str | None = None  # a wrong Docker-Content-Digest for the final PUT
    lose_put_responses: int = 0  # commit the blob, then break the connection this many times
    deleted: list[str] = field(default_factory=list)
    puts: int = 0
    largest_piece: int = 0

    def install(self, mocked: responses.RequestsMock) -> None:
        mocked.get(f"{BASE}/v2/", status=200)
        mocked.add_callback("POST", UPLOADS, callback=self._post)
        for method, handler in (("PATCH", self._patch), ("GET", self._status),
                                ("PUT", self._put), ("DELETE", self._delete)):
            mocked.add_callback(method, _SESSION, callback=handler)
        mocked.add_callback("HEAD", re.compile(re.escape(f"{BASE}/v2/{REPO}/blobs/") + "sha256:.*"),
                            callback=self._head)

    def _location(self, session: str) -> dict[str, str]:
        size = len(self.sessions[session])
        return {"Location": f"/v2/{REPO}/blobs/uploads/{session}?_state={size}",
                "Range": f"0-{max(size - 1, 0)}"}

    def _session(self, request: requests.PreparedRequest) -> str | None:
        match = _SESSION.match(request.url or "")
        return match.group("id") if match and match.group("id") in self.sessions else None

    def _post(self, request: requests.PreparedRequest) -> Reply:
        session = str(len(self.sessions) + len(self.deleted) + 1)
        self.sessions[session] = bytearray()
        headers = self._location(session)
        if self.min_chunk:
            headers["OCI-Chunk-Min-Length"] = str(self.min_chunk)
        return 202, headers, b""

    def _patch(self, request: requests.PreparedRequest) -> Reply:
        session = self._session(request)
        if session is None:
            return _error(404, "BLOB_UPLOAD_UNKNOWN")
        data = self.sessions[session]
        state = re.search(r"_state=(\d+)", request.url or "")
        if state is not None and int(state.group(1)) != len(data):
            # distribution: "upload resumed at wrong offset"; it cancels the session
            del self.sessions[session]
            return _error(404, "BLOB_UPLOAD_INVALID")
        content_range = request.headers.get("Content-Range")
        if content_range is not None and int(content_range.split("-")[0]) != len(data):
            return _error(416, "RANGE_INVALID")
        body = request.body
        pieces: Iterable[bytes] = [body] if isinstance(body, bytes) else body  # type: ignore[assignment]
        received = 0
        limit = self.drop_patch_after.pop(0) if self.drop_patch_after else None
        for piece in pieces:
            self.largest_piece = max(self.largest_piece, len(piece))
            if limit is not None and received + len(piece) > limit:
                if self.write_dropped_late:
                    self.late[session] = piece[: limit - received]
                elif self.keep_dropped_bytes:
                    data += piece[: limit - received]
                if self.forget_session_on_drop:
                    del self.sessions[session]
                raise requests.ConnectionError("connection reset by peer")
            data += piece
            received += len(piece)
        self.patches.append((content_range, received))
        return 202, self._location(session), b""

    def _status(self, request: requests.PreparedRequest) -> Reply:
        session = self._session(request)
        if session is None:
            return _error(404, "BLOB_UPLOAD_UNKNOWN")
        reply = 204, self._location(session), b""
        self.sessions[session] += self.late.pop(session, b"")
        return reply

    def _put(self, request: requests.PreparedRequest) -> Reply:
        self.puts += 1
        session = self._session(request)
        if session is None:
            return _error(404, "BLOB_UPLOAD_UNKNOWN")
        data = self.sessions.pop(session)
        if isinstance(request.body, bytes):
            data += request.body
        digest = re.search(r"digest=([^&]+)", request.url or "")
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest is None or digest.group(1).replace("%3A", ":") != actual:
            return _error(400, "DIGEST_INVALID")
        self.blobs[actual] = bytes(data)
        if self.lose_put_responses:
            self.lose_put_responses -= 1
            raise requests.ConnectionError("connection reset before the response")
        return 201, {"Docker-Content-Digest": self.announce_digest or actual}, b""

    def _delete(self, request: requests.PreparedRequest) -> Reply:
        session = self._session(request)
        if session is not None:
            del self.sessions[session]
            self.deleted.append(session)
        return 204, {}, b""

    def _head(self, request: requests.PreparedRequest) -> Reply:
        digest = (request.url or "").rsplit("/", 1)[1].replace("%3A", ":")
        if digest in self.blobs:
            return 200, {"Content-Length": str(len(self.blobs[digest]))}, b""
        return 404, {}, b""
