"""Transport-prefixed references (containers-transports(5) syntax)."""

from __future__ import annotations

import pytest

from harness.model.reference import Reference
from harness.model.transportref import (
    StorageSpec,
    TransportReference,
    TransportReferenceError,
    parse_transport_reference,
)

ID = "b" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("docker://busybox", TransportReference("docker",
                                                 reference=Reference.parse("busybox:latest"))),
        ("docker://a@sha256:" + "c" * 64, TransportReference(
            "docker", reference=Reference.parse("a@sha256:" + "c" * 64))),
        ("oci:/tmp/layout", TransportReference("oci", path="/tmp/layout")),
        ("oci:/tmp/layout:v1.0", TransportReference("oci", path="/tmp/layout", image_name="v1.0")),
        ("oci-archive:img.tar:x", TransportReference("oci-archive", path="img.tar",
                                                     image_name="x")),
        ("oci:/l:repo/app:1.0@x+y--z", TransportReference("oci", path="/l",
                                                          image_name="repo/app:1.0@x+y--z")),
        ("dir:/a:b", TransportReference("dir", path="/a:b")),
        ("docker-archive:a.tar", TransportReference("docker-archive", path="a.tar")),
        ("docker-archive:a.tar:app", TransportReference(
            "docker-archive", path="a.tar", reference=Reference.parse("app:latest"))),
        ("docker-archive:a.tar:@2", TransportReference("docker-archive", path="a.tar",
                                                       source_index=2)),
        ("containers-storage:app:1", TransportReference(
            "containers-storage", reference=Reference.parse("app:1"))),
        ("containers-storage:app", TransportReference(
            "containers-storage", reference=Reference.parse("app:latest"))),
        ("containers-storage:@" + ID, TransportReference("containers-storage", image_id=ID)),
        ("containers-storage:" + ID, TransportReference("containers-storage", image_id=ID)),
        ("containers-storage:app@" + ID, TransportReference(
            "containers-storage", reference=Reference.parse("app:latest"), image_id=ID)),
        ("containers-storage:[vfs@/var/s+/run/s:o1,o2]app", TransportReference(
            "containers-storage", reference=Reference.parse("app:latest"),
            storage=StorageSpec("vfs", "/var/s", "/run/s", ("o1", "o2")))),
        ("containers-storage:[/var/s]app", TransportReference(
            "containers-storage", reference=Reference.parse("app:latest"),
            storage=StorageSpec(root="/var/s"))),
    ],
)
def test_parse_and_format(text: str, expected: TransportReference) -> None:
    parsed = parse_transport_reference(text)
    assert parsed == expected
    assert parse_transport_reference(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("busybox", "expected TRANSPORT:DETAILS"),
        ("ftp:x", "unknown transport 'ftp'"),
        ("docker:busybox", "must start with 'docker://'"),
        ("docker://Busybox", "lowercase"),
        ("docker://a:t@sha256:" + "c" * 64, "both a tag and a digest"),
        ("oci:", "path must not be empty"),
        ("oci:/x:-bad", "image name must match"),
        ("oci:/x:a//b", "image name must match"),
        ("oci:/x:a..b", "image name must match"),
        ("dir:", "path must not be empty"),
        ("docker-archive::app", "path must not be empty"),
        ("docker-archive:a.tar:@x", "decimal image index"),
        ("docker-archive:a.tar:@" + "9" * 5000, "decimal image index"),
        ("docker-archive:a.tar:app@sha256:" + "c" * 64, "digest references"),
        ("containers-storage:", "image name or ID is required"),
        ("containers-storage:[vfs@/x", "no matching ']'"),
        ("containers-storage:[vfs@rel]app", "absolute path"),
        ("containers-storage:[]app", "must not be empty"),
        ("containers-storage:[@/x]app", "needs both a driver and a root"),
        ("containers-storage:[vfs@]app", "needs both a driver and a root"),
    ],
)
def test_rejections_name_the_rule(text: str, rule: str) -> None:
    with pytest.raises(TransportReferenceError) as info:
        parse_transport_reference(text)
    assert rule in str(info.value)


def test_harness_store_takes_only_a_root() -> None:
    assert parse_transport_reference("harness-store:[/s]app") == TransportReference(
        "harness-store", reference=Reference.parse("app:latest"), storage=StorageSpec(root="/s"))
    assert str(parse_transport_reference("harness-store:[/s]app")) == \
        "harness-store:[/s]docker.io/library/app:latest"
    with pytest.raises(TransportReferenceError, match="drivers, run roots and options belong"):
        parse_transport_reference("harness-store:[vfs@/s]app")
