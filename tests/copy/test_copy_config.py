"""Reading an image's config: the one capped, verified read shared by copy and inspect."""

from __future__ import annotations

import io
from typing import BinaryIO

import pytest

from harness.model import mediatype
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.limits import MAX_CONFIG_SIZE
from harness.transports.types import BlobInfo, ImageReference, ImageSource, read_config
from harness.util.errors import HarnessError


class _Counted(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.served = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.served += len(data)
        return data


class _OneBlob(ImageSource):
    """Serves *data* for any blob asked, and counts how much of it was read."""

    def __init__(self, data: bytes) -> None:
        self.stream = _Counted(data)

    @property
    def reference(self) -> ImageReference:
        raise NotImplementedError

    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        raise NotImplementedError

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        return self.stream, -1


def _config(data: bytes) -> Descriptor:
    return Descriptor(mediatype.OCI_CONFIG, Digest.from_bytes(data), len(data))


def test_a_config_is_read_and_verified() -> None:
    data = b'{"architecture":"amd64","os":"linux"}'
    assert read_config(_OneBlob(data), _config(data)) == data


def test_a_config_that_does_not_match_its_digest_is_refused() -> None:
    with pytest.raises(HarnessError, match="content does not match its digest"):
        read_config(_OneBlob(b"{}"), _config(b'{"os":"linux"}'))


def test_a_huge_blob_named_as_config_is_not_read_whole() -> None:
    huge = b" " * (MAX_CONFIG_SIZE + 4096)
    source = _OneBlob(huge)
    with pytest.raises(HarnessError, match=f"over the {MAX_CONFIG_SIZE}-byte limit"):
        read_config(source, _config(huge))
    assert source.stream.served == MAX_CONFIG_SIZE + 1
