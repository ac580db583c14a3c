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


# Vectors from distribution's reference/normalize_test.go (ParseNormalizedNamed).
UPSTREAM_VALID = [
    "docker/docker", "library/debian", "debian", "docker.io/docker/docker",
    "docker.io/library/debian", "docker.io/debian", "index.docker.io/docker/docker",
    "index.docker.io/library/debian", "index.docker.io/debian", "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian", "127.0.0.1:5000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "docker-rules/docker", "docker---rules/docker", "d/docker", "jess/t", "dock__er/docker",
    "xn--n3h.com:18080/foo", "test-com:8080/foo",
]
UPSTREAM_INVALID = [
    "https://github.com/docker/docker", "docker/Docker", "-docker", "-docker/docker",
    "-docker.io/docker/docker", "docker///docker", "docker.io/docker/Docker",
    "docker.io/docker///docker", "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "docker-/docker", "-docker-/docker", "____/____", "_docker/_docker", "dock..er/docker",
    "dock_.er/docker", "dock-.er/docker", "docker/", "[fc00::1%eth0]:5000/debian",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker",
]


@pytest.mark.parametrize("text", UPSTREAM_VALID)
def test_upstream_valid_names(text: str) -> None:
    assert Reference.parse(str(Reference.parse(text))) == Reference.parse(text)


@pytest.mark.parametrize("text", UPSTREAM_INVALID)
def test_upstream_invalid_names(text: str) -> None:
    with pytest.raises(ReferenceError):
        Reference.parse(text)


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("fooo/bar", "docker.io/fooo/bar", "fooo/bar"),
        ("index.docker.io/fooo/bar", "docker.io/fooo/bar", "fooo/bar"),
        ("library/ubuntu", "docker.io/library/ubuntu", "ubuntu"),
        ("other/library", "docker.io/other/library", "other/library"),
        ("127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase",
         "127.0.0.1:8000/privatebase"),
        ("docker.io/foo", "docker.io/library/foo", "foo"),
        ("library/foo/bar", "docker.io/library/foo/bar", "library/foo/bar"),
        ("test_com/foo", "docker.io/test_com/foo", "test_com/foo"),
        ("busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
         "docker.io/library/busybox:latest@sha256:"
         "86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
         "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"),
    ],
)
def test_upstream_normalisation(text: str, full: str, familiar: str) -> None:
    ref = Reference.parse(text)
    assert (str(ref), ref.familiar()) == (full, familiar)
