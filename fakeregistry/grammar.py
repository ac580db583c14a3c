"""Path parameters read against the distribution grammar, refused as registry errors."""

from __future__ import annotations

from fakeregistry.errors import RegistryError
from harness.model.digest import Digest, DigestError
from harness.model.reference import ReferenceError, validate_repository, validate_tag


def check_name(name: str) -> None:
    try:
        validate_repository(name)
    except ReferenceError as exc:
        raise RegistryError("NAME_INVALID", str(exc), detail={"name": name}) from None


def check_tag(tag: str) -> None:
    try:
        validate_tag(tag)
    except ReferenceError as exc:
        raise RegistryError("TAG_INVALID", str(exc), detail={"tag": tag}) from None


def parse_digest(text: str) -> Digest:
    try:
        return Digest.parse(text)
    except DigestError as exc:
        raise RegistryError("DIGEST_INVALID", str(exc)) from None
