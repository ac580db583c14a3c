"""Running the conformance suite in process against fake registries built by the test."""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import fakeregistry
from conformance import config
from conformance.client import Target
from conformance.results import RunResult, Status
from conformance.runner import run_suite
from fakeregistry.profiles import Profile
from harness.model.access import Credentials, RegistryAccess

_HOSTS = itertools.count()
Change = Callable[[str, list[tuple[str, str]], bytes], tuple[str, list[tuple[str, str]], bytes]]


def run_against(registry: fakeregistry.Registry, *, groups: Sequence[str] = config.GROUPS,
                expect: Path | None = None, credentials: tuple[str, str] | None = None,
                **options: Any) -> RunResult:
    """Run the whole suite (in this process) against *registry*, one repository per check."""
    with fakeregistry.inprocess(registry, f"http://fake-{next(_HOSTS)}.test") as url:
        target = Target(RegistryAccess(Credentials(*credentials) if credentials else None,
                                       url=url), isolate=True, name="fake under test")
        return run_suite(config.Settings(target, groups=tuple(groups), expect=expect),
                         **options)


def statuses(run: RunResult) -> dict[str, Status]:
    return {c.check: c.status for c in run.checks}


def not_passed(run: RunResult) -> dict[str, Status]:
    return {c.check: c.status for c in run.checks if c.status != Status.PASS}


def rewrite(registry: fakeregistry.Registry, method: str, path: str, change: Change) -> None:
    """Make *registry* answer requests matching *method* and the *path* glob through *change*.

    For rules the fake's fault injection cannot break (a header removed, a body rewritten).
    """
    inner = registry.wsgi_app

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ["REQUEST_METHOD"] != method or not fnmatch.fnmatchcase(
                environ["PATH_INFO"], path):
            return list(inner(environ, start_response))
        seen: list[tuple[str, list[tuple[str, str]]]] = []

        def capture(status: str, headers: list[tuple[str, str]], *_: object) -> object:
            seen.append((status, headers))
            return lambda _data: None

        body = b"".join(inner(environ, capture))  # type: ignore[arg-type]
        status, headers, body = change(seen[0][0], list(seen[0][1]), body)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    registry.wsgi_app = app  # type: ignore[method-assign]


REFERRERS = ("subject_header", "referrers_list", "referrers_unknown_subject", "referrers_filter")
SCHEMA1 = ("manifest_push[v2s1]", "manifest_get_by_tag[v2s1]", "manifest_get_by_digest[v2s1]",
           "manifest_head[v2s1]", "manifest_content_type[v2s1]", "manifest_accept[v2s1]",
           "manifest_blob_unknown[v2s1]", "schema1_bad_signature",
           "harness_push_round_trip[v2s1]")
# Profiles have no authentication: every auth check finds none to check.
AUTH = ("auth_challenge", "auth_anonymous_cannot_push", "token_pull_only_cannot_push",
        "token_insufficient_scope_challenge", "token_one_repository_only",
        "mount_from_unreadable_not_mounted")
TOKEN = AUTH[2:]  # under Basic auth these are unsupported too
DELETES = ("delete_manifest", "delete_manifest_untags", "delete_tag", "delete_blob",
           "delete_unknown_manifest")


def expected_results(profile: Profile) -> dict[str, Status]:
    """What the suite must report for *profile*, derived from its declared switches."""
    fail, warn, unsupported = Status.FAIL, Status.WARN, Status.UNSUPPORTED
    out: dict[str, Status] = dict.fromkeys(AUTH, unsupported)
    if not profile.tags_sorted:
        out["tag_list_sorted"] = fail
    if not profile.tags_paginate:
        out |= dict.fromkeys(("tag_list_n", "tag_list_last"), fail)
        out["tag_list_link"] = unsupported
    if profile.oversize_manifest_invalid:
        out["manifest_oversize"] = warn
    if not profile.chunk_ranges_checked:  # every chunk is appended, retries too
        out |= dict.fromkeys(("push_chunk_out_of_order", "push_chunk_retry"), fail)
    if not profile.monolithic_post:
        out["push_monolithic_post"] = unsupported
    if not profile.delete_by_tag:  # refused with 400 DIGEST_INVALID, not UNSUPPORTED
        out["delete_tag"] = fail
    if not profile.referrers:
        out |= dict.fromkeys(REFERRERS, unsupported)
    if not profile.schema1:
        out |= dict.fromkeys(SCHEMA1, unsupported)
    if not profile.delete:
        out |= dict.fromkeys(DELETES, unsupported)
    if profile.mount != "spec":
        out["mount_from"] = unsupported
    if profile.mount_without_from == "invalid":
        out["mount_without_from"] = warn
    if profile.mount_unknown_from == "unauthorized":
        out["mount_unknown_from"] = warn
    return out
