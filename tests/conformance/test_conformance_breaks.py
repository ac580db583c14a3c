"""For every check: break exactly its rule in the fake and see that check, and only it, fail.

Each break is a fault rule (or, where the fake cannot inject it, a response rewrite) scoped
to the repository the suite gives that check, or a global profile switch / fault when the
broken rule is global; the whole suite then runs and every other check must still pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from conformance_helpers import AUTH, rewrite, run_against, statuses

import fakeregistry
from conformance import config
from conformance.results import Status
from fakeregistry import FaultRule
from fakeregistry.auth import AuthConfig
from fakeregistry.profiles import PROFILES

NAMESPACE = "conformance/test"


def repo_of(check: str) -> str:
    """The repository the suite gives *check* on an isolated target."""
    return f"{NAMESPACE}/{re.sub(r'[^a-z0-9]+', '-', check.lower()).strip('-')}"


@dataclass
class Break:
    """How to break one rule: profile switches, fault rules, and response rewrites."""

    profile: dict[str, Any] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    rewrites: list[tuple[str, str, Callable[..., Any]]] = field(default_factory=list)
    scoped: bool = True  # faults and rewrites apply only to the check's repository
    also: frozenset[str] = frozenset()  # checks that need this rule too, with the reason
    auth: bool = False
    """Break a registry with token authentication, and run the auth group against it with
    credentials (compared with the same run unbroken)."""


def fault(**rule: Any) -> Break:
    return Break(faults=[rule])


def switch(**changes: Any) -> Break:
    return Break(profile=changes)


def drop_header(name: str) -> Callable[..., Any]:
    def change(status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        return status, [(k, v) for k, v in headers if k.lower() != name.lower()], body
    return change


def set_header(name: str, value: str) -> Callable[..., Any]:
    def change(status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        kept = [(k, v) for k, v in headers if k.lower() != name.lower()]
        return status, [*kept, (name, value)], body
    return change


def reverse_tags(status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
    data = json.loads(body)
    data["tags"] = sorted(data.get("tags") or [], reverse=True)
    return status, headers, json.dumps(data).encode()


def unstructured_errors(status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
    if not status.startswith("4"):
        return status, headers, body
    return status, headers, b'{"error": "not found"}'  # JSON, but not the spec's structure


def double_repositories(status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
    """A catalog that ignores n: every name twice, whatever was asked."""
    data = json.loads(body)
    data["repositories"] = sorted((data.get("repositories") or []) * 2)
    return status, headers, json.dumps(data).encode()


def on(method: str, kind: str, change: Callable[..., Any]) -> Break:
    return Break(rewrites=[(method, kind, change)])


GET, HEAD, PUT, POST, PATCH, DELETE = "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"
BLOBS, MANIFESTS, UPLOADS = "/blobs/*", "/manifests/*", "/blobs/uploads/*"
TAGS, REFERRERS = "/tags/list", "/referrers/*"


def _kinds(name: str, kinds: tuple[str, ...], how: Break) -> dict[str, Break]:
    return {f"{name}[{k}]": how for k in kinds}


SINGLE, INDEX = ("oci", "v2s2", "v2s1"), ("oci-index", "docker-list")
BREAKS: dict[str, Break] = {
    **_kinds("harness_push_round_trip", SINGLE, fault(method=GET, path=BLOBS, truncate=10)),
    # digests
    "blob_digest_header_get": fault(method=GET, path=BLOBS, wrong_digest=True),
    "blob_digest_header_head": Break(faults=[{"method": HEAD, "path": "/v2/*/blobs/*",
                                                  "wrong_digest": True}], scoped=False),
    "blob_content_matches_digest": fault(method=GET, path=BLOBS, truncate=100),
    "manifest_digest_header_get": fault(method=GET, path=MANIFESTS, wrong_digest=True),
    "manifest_digest_header_head": Break(faults=[{"method": HEAD, "path": "/v2/*/manifests/*",
                                                      "wrong_digest": True}], scoped=False),
    "manifest_content_matches_digest": fault(method=GET, path=MANIFESTS, truncate=50),
    "upload_wrong_digest": fault(method=PUT, path=UPLOADS, status=201),
    "manifest_put_digest_mismatch": fault(method=PUT, path=MANIFESTS, status=201),
    "blob_sha512": Break(faults=[{"method": GET, "path": "/v2/*/blobs/sha512:*",
                                      "wrong_digest": True}], scoped=False),
    "manifest_digest_on_put": fault(method=PUT, path=MANIFESTS, wrong_digest=True),
    # management
    "delete_manifest": fault(method=DELETE, path=MANIFESTS, status=202),
    "delete_manifest_untags": fault(method=DELETE, path=MANIFESTS, status=202),
    "delete_tag": fault(method=DELETE, path=MANIFESTS, status=202),
    "delete_blob": fault(method=DELETE, path=BLOBS, status=202),
    "delete_unknown_manifest": fault(method=DELETE, path=MANIFESTS, status=202),
    # manifests
    **_kinds("manifest_push", SINGLE, on(PUT, MANIFESTS, drop_header("Location"))),
    **_kinds("manifest_get_by_tag", SINGLE, fault(method=GET, path=MANIFESTS, truncate=40)),
    **_kinds("manifest_get_by_digest", SINGLE, fault(method=GET, path=MANIFESTS, truncate=40)),
    **_kinds("manifest_head", SINGLE, fault(method=HEAD, path=MANIFESTS, truncate=40)),
    **_kinds("manifest_content_type", SINGLE,
             on(HEAD, MANIFESTS, set_header("Content-Type", "application/json"))),
    **_kinds("manifest_accept", SINGLE, fault(method=GET, path=MANIFESTS, status=404,
                                              code="MANIFEST_UNKNOWN")),
    # refused, but not with MANIFEST_BLOB_UNKNOWN (accepting is allowed: unsupported)
    **_kinds("manifest_blob_unknown", SINGLE, fault(method=PUT, path=MANIFESTS, status=400,
                                                    code="DIGEST_INVALID")),
    **_kinds("index_push", INDEX, fault(method=GET, path=MANIFESTS, truncate=40)),
    **_kinds("index_child_unknown", INDEX, fault(method=PUT, path=MANIFESTS, status=400,
                                                 code="DIGEST_INVALID")),
    "index_empty": fault(method=PUT, path=MANIFESTS, status=400, code="MANIFEST_INVALID"),
    "index_nested": fault(method=GET, path=MANIFESTS, truncate=20),
    "artifact_without_layers": fault(method=GET, path=MANIFESTS, truncate=20),
    "manifest_large": fault(method=PUT, path=MANIFESTS, status=413, code="SIZE_INVALID"),
    "manifest_oversize": fault(method=PUT, path=MANIFESTS, status=400, code="MANIFEST_INVALID"),
    "manifest_push_by_digest": on(PUT, MANIFESTS, drop_header("Location")),
    "schema1_bad_signature": fault(method=PUT, path=MANIFESTS, nth=2, status=201),
    "manifest_invalid_json": fault(method=PUT, path=MANIFESTS, status=201),
    # pull
    # Every real client pings /v2/ before it pushes: the end-to-end pushes must fail too.
    "ping": Break(faults=[{"method": GET, "path": "/v2/", "status": 404, "code": "NAME_UNKNOWN"}],
                  scoped=False, also=frozenset(f"harness_push_round_trip[{k}]" for k in SINGLE)),
    "blob_get": fault(method=GET, path=BLOBS, status=404, code="BLOB_UNKNOWN"),
    "blob_head": fault(method=HEAD, path=BLOBS, truncate=5),
    "blob_range_get": fault(method=GET, path=BLOBS, truncate=3),
    "blob_range_open": fault(method=GET, path=BLOBS, truncate=3),
    "blob_range_unsatisfiable": fault(method=GET, path=BLOBS, status=400, code="SIZE_INVALID"),
    "blob_missing": fault(method=GET, path=BLOBS, status=403, code="DENIED"),
    "manifest_missing": fault(method=GET, path=MANIFESTS, status=400, code="MANIFEST_INVALID"),
    "manifest_malformed_digest": fault(method=GET, path="/manifests/sha256:totallywrong",
                                       status=500, code="UNKNOWN"),
    "error_bodies": on(GET, BLOBS, unstructured_errors),
    # push
    "push_monolithic_post": fault(method=POST, path=UPLOADS, status=400,
                                  code="BLOB_UPLOAD_INVALID"),
    "push_post_put": fault(method=PUT, path=UPLOADS, status=202),
    "push_streamed_patch": on(PATCH, UPLOADS, drop_header("Range")),
    "push_chunked": fault(method=PATCH, path=UPLOADS, nth=2, status=416, code="RANGE_INVALID"),
    "push_chunked_final_put": fault(method=PUT, path=UPLOADS, status=400,
                                    code="BLOB_UPLOAD_INVALID"),
    "push_chunk_out_of_order": fault(method=PATCH, path=UPLOADS, status=202),
    "push_chunk_retry": fault(method=PATCH, path=UPLOADS, nth=2, status=202),
    "upload_status": on(GET, UPLOADS, drop_header("Range")),
    # distribution 2.8: a Location whose state token is stale is 404 BLOB_UPLOAD_INVALID
    "upload_status_stale": fault(method=GET, path=UPLOADS, status=404,
                                 code="BLOB_UPLOAD_INVALID"),
    "upload_cancel": fault(method=DELETE, path=UPLOADS, status=202),
    "mount_from": fault(method=POST, path=UPLOADS, status=404, code="BLOB_UNKNOWN"),
    "mount_missing_blob": fault(method=POST, path=UPLOADS, status=201),
    "mount_without_from": switch(mount_without_from="invalid"),
    "mount_unknown_from": switch(mount_unknown_from="unauthorized"),
    # referrers
    "subject_header": on(PUT, MANIFESTS, drop_header("OCI-Subject")),
    # the referrers API answers 404, yet the PUT (of a profile with the API) sends OCI-Subject
    "subject_header_only_with_referrers": fault(method=GET, path=REFERRERS, status=404,
                                                code="NAME_UNKNOWN"),
    "subject_missing_accepted": fault(method=PUT, path=MANIFESTS, status=400,
                                      code="MANIFEST_BLOB_UNKNOWN"),
    "referrers_list": fault(method=GET, path=REFERRERS, nth=2, status=404,
                            code="MANIFEST_UNKNOWN"),
    "referrers_unknown_subject": fault(method=GET, path=REFERRERS, nth=2, status=404,
                                       code="MANIFEST_UNKNOWN"),
    "referrers_filter": fault(method=GET, path=REFERRERS, nth=2, status=404,
                              code="MANIFEST_UNKNOWN"),
    # tags
    "tag_list": fault(method=GET, path=TAGS, status=404, code="NAME_UNKNOWN"),
    "tag_list_sorted": on(GET, TAGS, reverse_tags),
    "tag_list_n": fault(method=GET, path=TAGS, nth=2, status=400, code="NAME_INVALID"),
    "tag_list_last": fault(method=GET, path=TAGS, status=400, code="NAME_INVALID"),
    "tag_list_link": on(GET, TAGS, set_header(
        "Link", f'</v2/{repo_of("tag_list_link")}/tags/list?n=2>; rel="next"')),
    "tag_overwrite": fault(method=GET, path=MANIFESTS, truncate=40),
    "tag_digest_agree": fault(method=GET, path=MANIFESTS, nth=1, wrong_digest=True),
    "tag_invalid": fault(method=PUT, path=MANIFESTS, status=201),
    "tag_longest": fault(method=PUT, path=MANIFESTS, status=400, code="TAG_INVALID"),
    # auth (against a registry with token auth)
    "auth_challenge": Break(rewrites=[(GET, TAGS, drop_header("WWW-Authenticate"))], auth=True),
    "auth_anonymous_cannot_push": Break(faults=[{"method": POST, "path": UPLOADS,
                                                 "status": 202}], auth=True),
    "token_pull_only_cannot_push": Break(faults=[{"method": POST, "path": UPLOADS,
                                                  "status": 202}], auth=True),
    "token_insufficient_scope_challenge": Break(faults=[{"method": POST, "path": UPLOADS,
                                                         "status": 403, "code": "DENIED"}],
                                                auth=True),
    "token_one_repository_only": Break(faults=[{
        "method": GET, "path": "/v2/conformance/other/token-one-repository-only/blobs/*",
        "status": 200}], scoped=False, auth=True),
    "mount_from_unreadable_not_mounted": Break(faults=[{"method": POST, "path": UPLOADS,
                                                        "status": 201}], auth=True),
    "catalog_pagination": Break(rewrites=[(GET, "/v2/_catalog", double_repositories)],
                                scoped=False),
    "repository_unknown": Break(faults=[{"method": GET, "path": "/v2/*/nx-*/tags/list",
                                             "status": 200}], scoped=False),
}


USER = ("conf", "conf-pw")


def token_registry() -> fakeregistry.Registry:
    return fakeregistry.Registry(auth=AuthConfig.with_passwords("token", dict([USER])))


def broken_registry(check: str, how: Break) -> fakeregistry.Registry:
    registry = token_registry() if how.auth else \
        fakeregistry.Registry(profile=PROFILES["spec"].replace(**how.profile))
    repository = repo_of(check)
    for rule in how.faults:
        path = f"/v2/{repository}{rule['path']}" if how.scoped else rule["path"]
        registry.faults.add(FaultRule(**{**rule, "path": path}))
    for method, path, change in how.rewrites:
        rewrite(registry, method, f"/v2/{repository}{path}" if how.scoped else path, change)
    return registry


@pytest.fixture(scope="module")
def baseline() -> dict[str, Status]:
    return statuses(run_against(fakeregistry.Registry(profile="spec")))


def test_every_check_has_a_break(baseline: dict[str, Status]) -> None:
    assert set(baseline) == set(BREAKS)


@pytest.fixture(scope="module")
def auth_baseline() -> dict[str, Status]:
    return statuses(run_against(token_registry(), groups=["auth"], credentials=USER))


def test_the_auth_checks_pass_behind_token_auth(auth_baseline: dict[str, Status]) -> None:
    assert set(auth_baseline) == set(AUTH)
    assert {c: s for c, s in auth_baseline.items() if s != Status.PASS} == {}


@pytest.mark.parametrize("check", sorted(c for c, how in BREAKS.items() if how.auth))
def test_breaking_one_auth_rule_changes_exactly_its_check(
        check: str, auth_baseline: dict[str, Status]) -> None:
    run = run_against(broken_registry(check, BREAKS[check]), groups=["auth"], credentials=USER)
    found = statuses(run)
    result = next(c for c in run.checks if c.check == check)
    assert found.pop(check) == (Status.WARN if result.level == "SHOULD" else Status.FAIL), result
    assert found == {c: s for c, s in auth_baseline.items() if c != check}


@pytest.mark.parametrize("check", sorted(c for c, how in BREAKS.items() if not how.auth))
def test_breaking_one_rule_fails_exactly_its_check(check: str) -> None:
    """Against the spec fake (no authentication: the auth group has its own test above)."""
    how = BREAKS[check]
    run = run_against(broken_registry(check, how),
                      groups=[group for group in config.GROUPS if group != "auth"])
    found = statuses(run)
    result = next(c for c in run.checks if c.check == check)
    # a broken SHOULD is a warning, not a failure
    assert found.pop(check) == (Status.WARN if result.level == "SHOULD" else Status.FAIL), result
    others = {name: status for name, status in found.items() if status != Status.PASS}
    assert others == dict.fromkeys(how.also, Status.FAIL)


def flip_first_byte(status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
    if not status.startswith("200") or not body:
        return status, headers, body
    return status, headers, bytes([body[0] ^ 1]) + body[1:]


def test_altered_bodies_of_the_same_length_are_detected() -> None:
    registry = fakeregistry.Registry()
    for check, kind in (("blob_content_matches_digest", BLOBS),
                        ("manifest_content_matches_digest", MANIFESTS)):
        rewrite(registry, GET, f"/v2/{repo_of(check)}{kind}", flip_first_byte)
    found = statuses(run_against(registry))
    assert {c: s for c, s in found.items() if s != Status.PASS} == {
        **dict.fromkeys(AUTH, Status.UNSUPPORTED),  # the fake asks for no credentials
        "blob_content_matches_digest": Status.FAIL,
        "manifest_content_matches_digest": Status.FAIL}


def status_204(status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
    return ("204 No Content", headers, b"") if status.startswith("202") else (status, headers, body)


def test_a_patch_answering_204_fails_only_the_checks_about_that_answer() -> None:
    """go-containerregistry's registry answers PATCH with 204: only the checks that require 202
    fail; the checks that merely need bytes in a session still decide their own rules."""
    registry = fakeregistry.Registry()
    rewrite(registry, PATCH, "/v2/*", status_204)
    found = statuses(run_against(registry, groups=["push", "docker"]))
    assert {c: s for c, s in found.items() if s != Status.PASS} == {
        "push_chunked": Status.FAIL, "push_streamed_patch": Status.FAIL}
