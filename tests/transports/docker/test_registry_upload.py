"""Blob uploads: monolithic, streamed, chunked; resuming broken PATCHes; digest checks."""

from __future__ import annotations

import io
import os
import socket
from collections.abc import Callable, Iterator

import pytest
import responses
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fakeregistry.registry import Registry
from fakeregistry.server import serve
from harness.model.digest import Digest, DigestMismatchError
from harness.transports.docker.client import RegistryClient
from harness.transports.docker.errors import ProtocolError
from harness.transports.docker.upload import (
    MONOLITHIC_MAX,
    PIECE,
    BlobUpload,
    UploadError,
    UploadInterruptedError,
)
from harness.transports.types import SystemContext
from tests._support.dockerhelp import UploadFake

BLOB = os.urandom(3 * PIECE + 12345)
DIGEST = Digest.from_bytes(BLOB)


class OneWayStream(io.RawIOBase):
    """A stream that cannot seek and refuses to be read whole (as a compressor's output)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert size is not None and 0 < size <= PIECE, f"read({size}) would hold too much"
        self.largest_read = max(self.largest_read, size)
        return self._data.read(size)


@pytest.fixture
def fake(mocked: responses.RequestsMock) -> Iterator[UploadFake]:
    registry = UploadFake()
    registry.install(mocked)
    yield registry


def test_streamed_upload_computes_the_digest_while_sending(
        fake: UploadFake, make_client: Callable[..., RegistryClient]) -> None:
    stream = OneWayStream(BLOB)
    digest, size = BlobUpload(make_client()).send(stream)  # type: ignore[arg-type]
    assert (digest, size) == (DIGEST, len(BLOB))
    assert fake.blobs[str(DIGEST)] == BLOB
    assert fake.patches == [(None, len(BLOB))]  # one PATCH without Content-Range
    assert fake.largest_piece <= PIECE and stream.largest_read <= PIECE


def test_small_known_blob_is_one_put(fake: UploadFake,
                                     make_client: Callable[..., RegistryClient]) -> None:
    data = b'{"config": true}'
    expected = Digest.from_bytes(data)
    assert BlobUpload(make_client()).send(io.BytesIO(data), expected, len(data)) == \
        (expected, len(data))
    assert fake.patches == [] and fake.puts == 1 and fake.blobs[str(expected)] == data


def test_monolithic_refuses_a_size_lie(fake: UploadFake,
                                       make_client: Callable[..., RegistryClient]) -> None:
    data = b"12345"
    with pytest.raises(UploadError, match="announced as 4 bytes has more"):
        BlobUpload(make_client()).send(io.BytesIO(data), Digest.from_bytes(data), 4)
    assert fake.deleted == ["1"]


def test_unknown_digest_with_known_size_still_streams(
        fake: UploadFake, make_client: Callable[..., RegistryClient]) -> None:
    # The copy engine may pass the source size while recompressing: not to be trusted.
    data = b"x" * 100
    assert BlobUpload(make_client()).send(io.BytesIO(data), None, 7)[1] == 100
    assert fake.patches == [(None, 100)]


def test_chunks_honour_the_registry_minimum(fake: UploadFake,
                                            make_client: Callable[..., RegistryClient]) -> None:
    fake.min_chunk = PIECE + 1000
    digest, _ = BlobUpload(make_client(), chunk_size=1000).send(OneWayStream(BLOB))  # type: ignore[arg-type]
    assert digest == DIGEST and fake.blobs[str(DIGEST)] == BLOB
    chunk = PIECE + 1000
    starts = list(range(0, len(BLOB), chunk))
    assert fake.patches == [(f"{s}-{min(s + chunk, len(BLOB)) - 1}", min(chunk, len(BLOB) - s))
                            for s in starts]


def test_broken_chunk_resumes_from_the_registry_offset(
        fake: UploadFake, make_client: Callable[..., RegistryClient], sleeps: list[float]) -> None:
    fake.drop_patch_after = [10**9, 300]  # the second chunk breaks after 300 bytes
    digest, _ = BlobUpload(make_client(), chunk_size=2 * PIECE).send(OneWayStream(BLOB))  # type: ignore[arg-type]
    assert digest == DIGEST and fake.blobs[str(DIGEST)] == BLOB
    resumed_at = 2 * PIECE + 300
    assert fake.patches[-1] == (f"{resumed_at}-{len(BLOB) - 1}", len(BLOB) - resumed_at)
    assert sleeps == [0.5]


@pytest.mark.parametrize("seekable", [True, False])
def test_stale_status_after_a_broken_chunk_starts_the_upload_again(
        fake: UploadFake, make_client: Callable[..., RegistryClient], seekable: bool) -> None:
    """The status said the offset before the broken chunk; the resumed PATCH finds the
    session cancelled (404 BLOB_UPLOAD_INVALID): a new session, or the caller told to
    send the blob again, as for a session the status request had found gone."""
    fake.drop_patch_after = [10**9, 300]
    fake.write_dropped_late = True
    stream = io.BytesIO(BLOB) if seekable else OneWayStream(BLOB)
    upload = BlobUpload(make_client(), chunk_size=2 * PIECE)
    if not seekable:
        with pytest.raises(UploadInterruptedError, match="registry kept no session"):
            upload.send(stream)  # type: ignore[arg-type]
        assert fake.blobs == {}
        return
    assert upload.send(stream) == (DIGEST, len(BLOB))
    assert fake.blobs[str(DIGEST)] == BLOB
    chunk = 2 * PIECE
    assert fake.patches == [(f"0-{chunk - 1}", chunk),  # the first session; then the new one
                            (f"0-{chunk - 1}", chunk), (f"{chunk}-{len(BLOB) - 1}",
                                                        len(BLOB) - chunk)]


def test_broken_stream_resumes_from_the_held_tail(
        fake: UploadFake, make_client: Callable[..., RegistryClient], sleeps: list[float]) -> None:
    fake.drop_patch_after = [2 * PIECE + 5]
    digest, _ = BlobUpload(make_client()).send(OneWayStream(BLOB))  # type: ignore[arg-type]
    assert digest == DIGEST and fake.blobs[str(DIGEST)] == BLOB
    assert fake.patches == [(None, len(BLOB) - (2 * PIECE + 5))]
    assert sleeps == [0.5]


def test_dropped_session_restarts_a_seekable_source(
        fake: UploadFake, make_client: Callable[..., RegistryClient]) -> None:
    fake.drop_patch_after = [2 * PIECE]
    fake.forget_session_on_drop = True  # as distribution cancels a session it cannot resume
    big = BLOB * 2  # more than the resend window
    digest, size = BlobUpload(make_client()).send(io.BytesIO(big))
    assert (digest, size) == (Digest.from_bytes(big), len(big))
    assert fake.blobs[str(digest)] == big


def test_dropped_session_without_the_bytes_is_reported(
        fake: UploadFake, make_client: Callable[..., RegistryClient]) -> None:
    fake.drop_patch_after = [5 * PIECE]
    fake.forget_session_on_drop = True
    with pytest.raises(UploadError, match="registry kept no session; the source cannot be read"):
        BlobUpload(make_client()).send(OneWayStream(BLOB * 2))  # type: ignore[arg-type]
    assert fake.blobs == {}


def test_small_unseekable_blob_restarts_from_the_window(
        fake: UploadFake, make_client: Callable[..., RegistryClient]) -> None:
    fake.drop_patch_after = [PIECE]
    fake.forget_session_on_drop = True
    digest, _ = BlobUpload(make_client()).send(OneWayStream(BLOB))  # type: ignore[arg-type]
    assert fake.blobs[str(digest)] == BLOB


def test_resume_attempts_are_bounded(fake: UploadFake,
                                     make_client: Callable[..., RegistryClient]) -> None:
    fake.drop_patch_after = [100, 100, 100]
    with pytest.raises(Exception, match=r"connection to registry\.test:443 failed"):
        BlobUpload(make_client(times=2)).send(OneWayStream(BLOB))  # type: ignore[arg-type]
    assert fake.blobs == {} and fake.deleted  # the session was abandoned


def test_digest_mismatch_cancels_without_committing(
        fake: UploadFake, make_client: Callable[..., RegistryClient], sleeps: list[float]) -> None:
    wrong = Digest.from_bytes(b"something else")
    with pytest.raises(DigestMismatchError):
        BlobUpload(make_client()).send(OneWayStream(BLOB), wrong)  # type: ignore[arg-type]
    assert fake.puts == 0 and fake.deleted == ["1"] and sleeps == []


def test_wrong_digest_header_on_commit_is_reported(
        fake: UploadFake, make_client: Callable[..., RegistryClient]) -> None:
    fake.announce_digest = str(Digest.from_bytes(b"other"))
    with pytest.raises(ProtocolError, match="the registry stored it as sha256:"):
        BlobUpload(make_client()).send(io.BytesIO(BLOB))


def test_a_local_read_error_is_not_retried(
        fake: UploadFake, make_client: Callable[..., RegistryClient], sleeps: list[float]) -> None:
    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        BlobUpload(make_client()).send(Failing())  # type: ignore[arg-type]
    assert sleeps == []


def test_monolithic_limit_is_small() -> None:
    assert MONOLITHIC_MAX <= 4 * PIECE


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(0, 3 * PIECE), chunk=st.sampled_from([None, 300_000, 2 * PIECE]),
       cuts=st.lists(st.integers(0, 3 * PIECE), max_size=2), keep=st.booleans(),
       seekable=st.booleans())
# One byte kept reads "Range: 0-0", as nothing kept does: the session must not be resumed.
@example(size=2, chunk=None, cuts=[1], keep=True, seekable=False)
def test_any_cut_is_resumed_to_the_same_blob(
        make_client: Callable[..., RegistryClient], size: int, chunk: int | None,
        cuts: list[int], keep: bool, seekable: bool) -> None:
    data = BLOB[:size]
    fake = UploadFake(drop_patch_after=list(cuts), keep_dropped_bytes=keep)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        fake.install(mocked)
        stream = io.BytesIO(data) if seekable else OneWayStream(data)
        digest, sent = BlobUpload(make_client(), chunk_size=chunk).send(stream)  # type: ignore[arg-type]
    assert (digest, sent) == (Digest.from_bytes(data), size)
    assert fake.blobs[str(digest)] == data


@pytest.mark.parametrize("data", [b"small config", BLOB], ids=["monolithic", "streamed"])
def test_commit_whose_response_was_lost_is_confirmed_by_head(
        fake: UploadFake, make_client: Callable[..., RegistryClient], data: bytes) -> None:
    fake.lose_put_responses = 1
    digest = Digest.from_bytes(data)
    assert BlobUpload(make_client()).send(io.BytesIO(data), digest, len(data)) == \
        (digest, len(data))
    assert fake.puts == 2 and fake.blobs[str(digest)] == data


def test_short_reads_are_gathered_for_a_monolithic_put(
        fake: UploadFake, make_client: Callable[..., RegistryClient]) -> None:
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return self._data.read(min(size, 3))

    data = b'{"a": "config of some length"}'
    digest = Digest.from_bytes(data)
    assert BlobUpload(make_client()).send(Trickle(data), digest, len(data)) == (digest, len(data))  # type: ignore[arg-type]
    assert fake.patches == []


@pytest.mark.usefixtures("http_library")
def test_a_streamed_body_goes_to_the_socket_in_whole_pieces(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # http.client would send a file body in 8 KiB blocks (a syscall each); the streamed
    # PATCH body is an iterator of pieces, each one sendall of PIECE bytes and its framing.
    sizes: list[int] = []
    sendall = socket.socket.sendall

    def recording(sock: socket.socket, data: bytes, *args: int) -> None:
        sizes.append(len(data))
        sendall(sock, data, *args)

    with serve(Registry()) as server:
        client = RegistryClient(server.host, "ns/app", SystemContext(tls_verify=False))
        monkeypatch.setattr(socket.socket, "sendall", recording)
        digest, _ = BlobUpload(client).send(OneWayStream(BLOB))  # type: ignore[arg-type]
        monkeypatch.undo()
        assert digest == DIGEST and client.blob_size(DIGEST) == len(BLOB)
    assert sum(size for size in sizes if size >= PIECE) >= len(BLOB) - PIECE
