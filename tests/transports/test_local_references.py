"""Reference syntax, string round trips and policy scopes of the local transports."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.transports.alltransports import TRANSPORTS, get_transport, parse_image_name
from harness.util.errors import HarnessError


@pytest.mark.parametrize(
    ("text", "transport", "within"),
    [
        ("oci:/srv/layout", "oci", "/srv/layout"),
        ("oci:/srv/layout:v1.0", "oci", "/srv/layout:v1.0"),
        ("oci-archive:/tmp/a.tar:latest", "oci-archive", "/tmp/a.tar:latest"),
        ("dir:/tmp/image", "dir", "/tmp/image"),
        ("docker-archive:/tmp/a.tar", "docker-archive", "/tmp/a.tar"),
        ("docker-archive:/tmp/a.tar:@1", "docker-archive", "/tmp/a.tar:@1"),
    ],
)
def test_parse_round_trips(text: str, transport: str, within: str) -> None:
    ref = parse_image_name(text)
    assert ref.transport.name == transport
    assert ref.string_within_transport() == within
    assert str(ref) == text
    assert str(parse_image_name(str(ref))) == text


def test_docker_archive_name_is_normalised_and_tagged() -> None:
    ref = parse_image_name("docker-archive:/tmp/a.tar:busybox")
    assert ref.string_within_transport() == "/tmp/a.tar:docker.io/library/busybox:latest"
    assert str(ref.docker_reference()) == "docker.io/library/busybox:latest"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nocolon", "expected colon-separated transport:reference"),
        ("ftp:/x", "unknown transport 'ftp'"),
        ("oci:", "path must not be empty"),
        ("oci:/x:bad name", "image name must match"),
        ("docker-archive:/x:foo@sha256:" + "a" * 64, "digest references are not supported"),
        ("dir:", "path must not be empty"),
    ],
)
def test_bad_names_name_the_rule(text: str, message: str) -> None:
    with pytest.raises(HarnessError, match=message):
        parse_image_name(text)


def test_get_transport_lists_the_known_ones() -> None:
    with pytest.raises(HarnessError, match=r"known: .*dir"):
        get_transport("nope")
    assert get_transport("oci") is TRANSPORTS["oci"]


def test_path_identity_follows_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    via_link = parse_image_name(f"oci:{tmp_path}/link:v1")
    assert via_link.policy_configuration_identity() == f"{real.resolve()}:v1"
    namespaces = via_link.policy_configuration_namespaces()
    assert namespaces[0] == str(real.resolve())
    assert namespaces[1] == str(real.resolve().parent)
    assert "/" not in namespaces


def test_relative_paths_resolve_against_the_working_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ref = parse_image_name("dir:img")
    assert ref.policy_configuration_identity() == str(tmp_path.resolve() / "img")
    assert ref.string_within_transport() == "img"


@pytest.mark.parametrize("name", ["oci", "oci-archive", "dir", "docker-archive"])
@pytest.mark.parametrize("scope", ["relative/path", "/a/../b", "/a/b/"])
def test_path_scopes_must_be_clean_and_absolute(name: str, scope: str) -> None:
    with pytest.raises(HarnessError, match="invalid policy scope"):
        TRANSPORTS[name].validate_policy_configuration_scope(scope)


@pytest.mark.parametrize("name", ["oci", "oci-archive", "dir", "docker-archive"])
def test_clean_absolute_scopes_are_valid(name: str) -> None:
    TRANSPORTS[name].validate_policy_configuration_scope("/var/lib/images")


def test_the_models_transport_names_are_the_registered_transports() -> None:
    """has_transport_prefix answers from the model's list without importing transports."""
    from harness.model import transportref  # noqa: PLC0415

    assert set(transportref.TRANSPORTS) == set(TRANSPORTS)


@pytest.mark.parametrize(("text", "prefixed"), [
    ("oci:/x:v1", True), ("docker://a/b", True), ("containers-storage:x", True),
    ("demo:v1", False), ("localhost:5000/x", False), ("demo", False), ("", False),
])
def test_a_transport_prefix_tells_references_from_local_names(text: str, prefixed: bool) -> None:
    from harness.model.transportref import has_transport_prefix  # noqa: PLC0415

    assert has_transport_prefix(text) is prefixed
