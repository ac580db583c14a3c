"""Content digests (OCI image-spec "descriptor" grammar) and streaming digesters.

A digest is ``algorithm:encoded``. Only sha256 and sha512 can be computed; other
algorithms that match the grammar parse but cannot be verified.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO

from harness.util.errors import HarnessError

_ALGORITHM = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*")
_ENCODED = re.compile(r"[a-zA-Z0-9=_-]+")
_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_LOWER_HEX = re.compile(r"[a-f0-9]+")


class DigestError(HarnessError, ValueError):
    """A string is not a valid digest; the message names the rule it broke."""


class DigestMismatchError(HarnessError):
    """Content did not hash to the digest it was announced with."""

    def __init__(self, expected: Digest, actual: Digest) -> None:
        super().__init__(f"digest mismatch: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True, order=True)
class Digest:
    """A validated ``algorithm:encoded`` pair."""

    algorithm: str
    encoded: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse and validate *text*; raise :class:`DigestError` naming the broken rule."""
        if not isinstance(text, str):
            raise DigestError(f"digest must be a string, not {type(text).__name__}")
        algorithm, sep, encoded = text.partition(":")
        if not sep:
            raise DigestError(f"invalid digest {text!r}: missing ':' between algorithm and hex")
        if not _ALGORITHM.fullmatch(algorithm):
            raise DigestError(
                f"invalid digest {text!r}: algorithm must match [a-z0-9]+([+._-][a-z0-9]+)*"
            )
        if not _ENCODED.fullmatch(encoded):
            raise DigestError(f"invalid digest {text!r}: encoded part must match [a-zA-Z0-9=_-]+")
        want = _HEX_LENGTH.get(algorithm)
        if want is not None:
            if len(encoded) != want:
                raise DigestError(
                    f"invalid digest {text!r}: {algorithm} needs {want} hex characters, "
                    f"got {len(encoded)}"
                )
            if not _LOWER_HEX.fullmatch(encoded):
                raise DigestError(f"invalid digest {text!r}: {algorithm} hex must be lowercase")
        return cls(algorithm, encoded)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of *data*."""
        digester = Digester(algorithm)
        digester.update(data)
        return digester.digest()

    @property
    def hex(self) -> str:
        """The encoded part (hex for sha256/sha512)."""
        return self.encoded

    @property
    def supported(self) -> bool:
        """Whether this project can compute the algorithm."""
        return self.algorithm in _HEX_LENGTH

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"


def _new_hash(algorithm: str) -> hashlib._Hash:
    if algorithm not in _HEX_LENGTH:
        raise DigestError(f"unsupported digest algorithm {algorithm!r}: use sha256 or sha512")
    return hashlib.new(algorithm)


class Digester:
    """Accumulates a digest and a byte count over data fed in pieces."""

    def __init__(self, algorithm: str = "sha256") -> None:
        self.algorithm = algorithm
        self._hash = _new_hash(algorithm)
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())


class SizeMismatchError(HarnessError):
    """Content was longer or shorter than the size it was announced with."""


class DigestingReader:
    """Wraps a readable binary stream, hashing what passes through without buffering it.

    With *expected_size* (>= 0) it never reads more than one byte past it: a source that
    sends more than it declared (a hostile registry streaming zeros forever) fails there.
    Call :meth:`verify` after the last read to check the content against *expected* and
    *expected_size*.
    """

    def __init__(self, stream: BinaryIO, algorithm: str = "sha256",
                 expected: Digest | None = None, expected_size: int = -1) -> None:
        self._stream = stream
        self.expected = expected
        self.expected_size = expected_size
        self.digester = Digester(expected.algorithm if expected is not None else algorithm)

    def _name(self) -> str:
        return f"blob {self.expected}" if self.expected is not None else "blob"

    def read(self, size: int = -1) -> bytes:
        if self.expected_size >= 0:
            room = self.expected_size + 1 - self.digester.size
            size = room if size < 0 else min(size, room)
        data = self._stream.read(size)
        self.digester.update(data)
        if 0 <= self.expected_size < self.digester.size:
            raise SizeMismatchError(f"{self._name()}: more than the declared "
                                    f"{self.expected_size} bytes")
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    @property
    def size(self) -> int:
        """Bytes read so far."""
        return self.digester.size

    def digest(self) -> Digest:
        """The digest of what has been read so far."""
        return self.digester.digest()

    def verify(self) -> Digest:
        """Compare what was read with *expected* (if any) and return the digest."""
        actual = self.digest()
        if self.expected is not None and actual != self.expected:
            raise DigestMismatchError(self.expected, actual)
        if self.expected_size >= 0 and self.size != self.expected_size:
            raise SizeMismatchError(f"{self._name()}: expected {self.expected_size} bytes, "
                                    f"got {self.size}")
        return actual


def digest_stream(stream: BinaryIO, algorithm: str = "sha256",
                  chunk_size: int = 1 << 20) -> tuple[Digest, int]:
    """Hash *stream* to its end in chunks; return the digest and the byte count."""
    digester = Digester(algorithm)
    while chunk := stream.read(chunk_size):
        digester.update(chunk)
    return digester.digest(), digester.size
