"""Docker reference grammar and normalisation (distribution's ParseNormalizedNamed)."""

from __future__ import annotations

import pytest

from harness.model.digest import Digest
from harness.model.reference import (
    Reference,
    ReferenceError,
    validate_repository,
    validate_tag,
)

HEX = "a" * 64


@pytest.mark.parametrize(
    ("text", "domain", "path", "tag", "digest"),
    [
        ("busybox", "docker.io", "library/busybox", None, None),
        ("busybox:1.36", "docker.io", "library/busybox", "1.36", None),
        ("user/app", "docker.io", "user/app", None, None),
        ("index.docker.io/busybox", "docker.io", "library/busybox", None, None),
        ("docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", None),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/a/b:v1", "localhost:5000", "a/b", "v1", None),
        ("127.0.0.1:5055/x", "127.0.0.1:5055", "x", None, None),
        ("Example/app", "Example", "app", None, None),
        ("quay.io/org/app@sha256:" + HEX, "quay.io", "org/app", None, "sha256:" + HEX),
        ("a/b:t@sha256:" + HEX, "docker.io", "a/b", "t", "sha256:" + HEX),
        ("[::1]:5000/app", "[::1]:5000", "app", None, None),
        ("a__b/c-d---e/f.g", "docker.io", "a__b/c-d---e/f.g", None, None),
    ],
)
def test_parse_normalises(text: str, domain: str, path: str, tag: str | None,
                          digest: str | None) -> None:
    ref = Reference.parse(text)
    assert (ref.domain, ref.path, ref.tag) == (domain, path, tag)
    assert ref.digest == (Digest.parse(digest) if digest else None)
    assert Reference.parse(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("", "must not be empty"),
        (HEX, "64-byte hexadecimal"),
        ("Busybox", "must be lowercase"),
        ("docker.io/Library/busybox", "must be lowercase"),
        ("a//b", "empty path component"),
        ("a/b/", "empty path component"),
        ("-a", "path component '-a'"),
        ("a_-b", "path component"),
        ("a:", "a tag must not be empty"),
        ("a:-x", "must match [A-Za-z0-9_]"),
        ("a:" + "t" * 129, "at most 128"),
        ("a@sha256:abc", "needs 64 hex"),
        ("a@", "missing ':'"),
        (":tag", "name must not be empty"),
        ("ex-.com/a", "domain 'ex-.com'"),
        ("x.io/" + "a" * 251, "more than 255"),
    ],
)
def test_rejections_name_the_rule(text: str, rule: str) -> None:
    with pytest.raises(ReferenceError) as info:
        Reference.parse(text)
    assert rule in str(info.value)


def test_255_limit_counts_the_normalised_name() -> None:
    path = "a" * (255 - len("docker.io/library/"))
    assert Reference.parse(path).name == "docker.io/library/" + path
    with pytest.raises(ReferenceError, match="more than 255"):
        Reference.parse(path + "a")


@pytest.mark.parametrize(
    ("text", "familiar"),
    [
        ("busybox", "busybox"),
        ("docker.io/library/busybox:1", "busybox:1"),
        ("docker.io/user/app", "user/app"),
        ("docker.io/library/a/b", "library/a/b"),
        ("quay.io/x/y:z", "quay.io/x/y:z"),
        ("docker.io/a.b/c", "docker.io/a.b/c"),
        ("docker.io/localhost/c", "docker.io/localhost/c"),
    ],
)
def test_familiar(text: str, familiar: str) -> None:
    assert Reference.parse(text).familiar() == familiar


def test_helpers() -> None:
    ref = Reference.parse("busybox")
    assert ref.tag_or_latest == "latest"
    assert str(ref) == "docker.io/library/busybox"
    tagged = ref.with_tag("v2")
    assert str(tagged) == "docker.io/library/busybox:v2"
    assert tagged.tag_or_latest == "v2"
    pinned = tagged.with_digest(Digest.parse("sha256:" + HEX))
    assert str(pinned) == f"docker.io/library/busybox:v2@sha256:{HEX}"
    with pytest.raises(ReferenceError):
        ref.with_tag("bad tag")


def test_validate_tag_and_repository() -> None:
    validate_tag("v1.2_3-rc")
    validate_repository("library/busybox")
    for bad in ("", ".x", "x y"):
        with pytest.raises(ReferenceError):
            validate_tag(bad)
    for bad_name in ("", "Upper/x", "a//b", "a" * 256, "a:b"):
        with pytest.raises(ReferenceError):
            validate_repository(bad_name)
