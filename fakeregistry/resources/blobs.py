"""``/v2/<name>/blobs/<digest>``: GET and HEAD (with single ranges) and DELETE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from werkzeug.wrappers import Request, Response

from fakeregistry.backend import Backend
from fakeregistry.errors import RegistryError
from fakeregistry.grammar import parse_digest
from fakeregistry.replies import empty
from fakeregistry.routes import Endpoints
from fakeregistry.storage import COPY_CHUNK


class Blobs:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def endpoints(self) -> Endpoints:
        return {"blob": {"GET": self.get, "DELETE": self.delete}}

    def get(self, request: Request, params: dict[str, str]) -> Response:
        backend = self._backend
        digest = parse_digest(params["digest"])
        with backend.state.lock:
            repo = backend.state.repository(params["name"])
            size = backend.blobs.size(digest) if repo and digest in repo.blobs else None
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
        body = () if request.method == "HEAD" else _read_span(backend.blobs.open(digest),
                                                              start, length)
        response = Response(body, status, content_type="application/octet-stream",
                            direct_passthrough=True)
        response.headers.update(headers)
        return response

    def delete(self, request: Request, params: dict[str, str]) -> Response:
        backend = self._backend
        backend.require_delete()
        digest = parse_digest(params["digest"])
        with backend.state.lock:
            repo = backend.state.repository(params["name"])
            if repo is None or digest not in repo.blobs:
                raise RegistryError("BLOB_UNKNOWN", f"blob {digest} is not in this repository",
                                    detail={"digest": str(digest)})
            repo.blobs.discard(digest)
            backend.state.save()
        response = empty(202)
        response.headers["Docker-Content-Digest"] = str(digest)
        return response


def _read_span(stream: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    with stream:
        stream.seek(start)
        while length > 0:
            chunk = stream.read(min(COPY_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
