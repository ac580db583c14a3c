"""Path parameters read against the distribution grammar, refused as registry errors."""

from __future__ import annotations

import re

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


_ROUTE_DIGEST = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+"
ROUTE_PATTERNS = {
    "reference": re.compile(rf"[\w][\w.-]{{0,127}}|{_ROUTE_DIGEST}", re.ASCII),
    "digest": re.compile(_ROUTE_DIGEST),
}
"""What distribution's router (registry/api/v2/descriptors.go) lets through as a
manifest reference (a tag, or go-digest 1.0's loose digest pattern, which Debian's
2.8.2 build links) and as a blob digest; anything else matches no route there."""


def routable(args: dict[str, str]) -> bool:
    """Whether distribution's router would match a path with these parameters."""
    return all(pattern.fullmatch(args[key]) is not None
               for key, pattern in ROUTE_PATTERNS.items() if key in args)
