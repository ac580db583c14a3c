"""Differential test: the fake's ``distribution-2.8`` profile against the real thing.

hypothesis draws bounded sequences of registry requests (uploads monolithic, chunked and
streamed with good and bad ranges and digests, mounts, manifest PUT/GET/HEAD/DELETE by
tag and digest with valid and invalid references and every manifest type including
schema1, tag lists with ``n``/``last``, referrers, malformed bodies and headers). Each
sequence runs against Debian's docker-registry 2.8.2 (schema1 enabled) and against the
fake, and every answer must agree on what clients read: the status, the registry error
code, and the headers in :data:`COMPARED`. A difference kept on purpose is named in the
profile's ``differences`` with its reason, and applied here by that name only
(:data:`NORMALISERS`). A failing example prints itself as curl commands.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakeregistry import PROFILES, Registry, serve
from fakeregistry.tokens import TokenSigner
from harness.model import mediatype, schema1
from harness.model.convert import convert_manifest
from harness.model.digest import Digest
from harness.peers.launchers import RunningRegistry
from tests._support.tokenauth import ISSUER, TokenServer, token_server

PROFILE = PROFILES["distribution-2.8"]
COMPARED = ("Location", "Range", "Docker-Content-Digest", "Content-Type", "Content-Length",
            "OCI-Subject", "WWW-Authenticate", "Link", "Content-Range")

# -- content: fixed bytes, so both registries see the same digests -----------------------
LAYER = b"differential layer " * 8
OTHER = b"another blob"
CONFIG = json.dumps({
    "architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": [str(Digest.from_bytes(LAYER))]},
    "history": [{"created": "2020-01-01T00:00:00Z", "created_by": "/bin/sh -c true"}]},
    separators=(",", ":")).encode()
BLOBS = {"config": CONFIG, "layer": LAYER, "other": OTHER}


def _descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": str(Digest.from_bytes(data)), "size": len(data)}


def _json(value: object) -> bytes:
    return json.dumps(value, indent=3).encode()


V2S2 = _json({"schemaVersion": 2, "mediaType": mediatype.DOCKER_V2S2_MANIFEST,
              "config": _descriptor(mediatype.DOCKER_CONFIG, CONFIG),
              "layers": [_descriptor(mediatype.DOCKER_LAYER_GZIP, LAYER)]})
OCI = _json({"schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
             "config": _descriptor(mediatype.OCI_CONFIG, CONFIG),
             "layers": [_descriptor(mediatype.OCI_LAYER_GZIP, LAYER)]})
MANIFESTS: dict[str, tuple[str, bytes]] = {
    "oci": (mediatype.OCI_MANIFEST, OCI),
    "v2s2": (mediatype.DOCKER_V2S2_MANIFEST, V2S2),
    "oci-subject": (mediatype.OCI_MANIFEST, _json({
        "schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
        "config": _descriptor(mediatype.OCI_CONFIG, CONFIG),
        "layers": [_descriptor(mediatype.OCI_LAYER_GZIP, OTHER)],
        "subject": _descriptor(mediatype.OCI_MANIFEST, OCI)})),
    "oci-index": (mediatype.OCI_INDEX, _json({
        "schemaVersion": 2, "mediaType": mediatype.OCI_INDEX,
        "manifests": [{**_descriptor(mediatype.OCI_MANIFEST, OCI),
                       "platform": {"architecture": "amd64", "os": "linux"}}]})),
    "docker-list": (mediatype.DOCKER_MANIFEST_LIST, _json({
        "schemaVersion": 2, "mediaType": mediatype.DOCKER_MANIFEST_LIST,
        "manifests": [{**_descriptor(mediatype.DOCKER_V2S2_MANIFEST, V2S2),
                       "platform": {"architecture": "amd64", "os": "linux"}}]})),
    "not-json": (mediatype.OCI_MANIFEST, b"{not json"),
    "empty": (mediatype.DOCKER_V2S2_MANIFEST, b""),
}
KINDS = [*MANIFESTS, "schema1"]
TAGS = ["v1", "latest", "-bad", ".INVALID_MANIFEST_NAME", "x" * 129]
ACCEPTS = [None, "*/*", mediatype.OCI_MANIFEST, mediatype.DOCKER_V2S2_MANIFEST,
           f"{mediatype.DOCKER_V2S2_MANIFEST}, {mediatype.DOCKER_MANIFEST_LIST}",
           mediatype.DOCKER_V2S1_SIGNED_MANIFEST,
           ", ".join([mediatype.OCI_MANIFEST, mediatype.OCI_INDEX,
                      mediatype.DOCKER_V2S2_MANIFEST, mediatype.DOCKER_MANIFEST_LIST])]


def _schema1(repo: str, tag: str) -> bytes:
    """Signed schema1 for *repo*:*tag* (its name and tag are in the payload); signed
    once per step, so both registries get the same bytes."""
    return convert_manifest(V2S2, mediatype.DOCKER_V2S2_MANIFEST,
                            mediatype.DOCKER_V2S1_SIGNED_MANIFEST, config=CONFIG,
                            name=repo, tag=tag).manifest


# -- requests ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """One HTTP request to ``path``, or to an upload's Location: ``session`` >= 0 is the
    nth upload opened, -2 the last one."""

    method: str
    path: str = ""
    session: int = -1
    params: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    opens_session: bool = False


@dataclass(frozen=True)
class Step:
    """A drawn action; ``calls(prefix)`` turns it into requests under a repository prefix."""

    action: str
    args: tuple[Any, ...]

    def calls(self, prefix: str) -> list[Call]:
        maker: Callable[..., list[Call]] = (
            ACTIONS[self.action][0] if self.action in ACTIONS else NAMED_ONLY[self.action])
        return maker(prefix, *self.args)


def _repo(prefix: str, which: str) -> str:
    return "UPPER/Invalid" if which == "invalid" else f"{prefix}/{which}"


def _digest_param(kind: str, data: bytes) -> str:
    return {"right": str(Digest.from_bytes(data)), "wrong": str(Digest.from_bytes(b"wrong")),
            "malformed": "sha256:xyz", "sha512": str(Digest.from_bytes(data, "sha512"))}[kind]


def seed(prefix: str, repo: str) -> list[Call]:
    calls = []
    for data in BLOBS.values():
        calls += [Call("POST", f"/v2/{_repo(prefix, repo)}/blobs/uploads/", opens_session=True),
                  Call("PUT", session=-2, params=(("digest", str(Digest.from_bytes(data))),),
                       body=data)]
    return calls


def start_upload(prefix: str, repo: str) -> list[Call]:
    return [Call("POST", f"/v2/{_repo(prefix, repo)}/blobs/uploads/", opens_session=True)]


def monolithic(prefix: str, repo: str, blob: str, digest: str) -> list[Call]:
    data = BLOBS[blob]
    return [Call("POST", f"/v2/{_repo(prefix, repo)}/blobs/uploads/",
                 params=(("digest", _digest_param(digest, data)),), body=data,
                 opens_session=True)]


def patch(prefix: str, session: int, blob: str, part: str, content_range: str) -> list[Call]:
    data = BLOBS[blob]
    piece = {"whole": data, "head": data[:7], "tail": data[7:]}[part]
    start = 7 if part == "tail" else 0
    headers = {"none": (), "good": (("Content-Range", f"{start}-{start + len(piece) - 1}"),),
               "gap": (("Content-Range", f"{start + 3}-{start + len(piece) + 2}"),),
               "garbage": (("Content-Range", "bytes=a-b"),)}[content_range]
    return [Call("PATCH", session=session, headers=(("Content-Type",
                                                     "application/octet-stream"), *headers),
                 body=piece)]


def finish(prefix: str, session: int, blob: str, last: bool, digest: str) -> list[Call]:
    data = BLOBS[blob]
    params = () if digest == "missing" else (("digest", _digest_param(digest, data)),)
    return [Call("PUT", session=session, params=params, body=data[7:] if last else b"")]


def session_status(prefix: str, session: int, method: str) -> list[Call]:
    return [Call(method, session=session)]


def blob_read(prefix: str, repo: str, blob: str, method: str, span: str | None) -> list[Call]:
    headers = () if span is None else (("Range", span),)
    digest = Digest.from_bytes(BLOBS[blob]) if blob in BLOBS else blob
    return [Call(method, f"/v2/{_repo(prefix, repo)}/blobs/{digest}", headers=headers)]


def mount(prefix: str, repo: str, blob: str, source: str | None) -> list[Call]:
    params = [("mount", str(Digest.from_bytes(BLOBS[blob])))]
    if source is not None:
        params.append(("from", _repo(prefix, source)))
    return [Call("POST", f"/v2/{_repo(prefix, repo)}/blobs/uploads/", params=tuple(params),
                 opens_session=True)]


def _reference(prefix: str, repo: str, reference: str) -> str:
    if reference in KINDS:
        if reference == "schema1":
            return str(Digest.from_bytes(schema1.payload(_schema1(_repo(prefix, repo), "v1"))))
        return str(Digest.from_bytes(MANIFESTS[reference][1]))
    return {"unknown-digest": str(Digest.from_bytes(b"nothing")), "bad-digest": "sha256:abc",
            }.get(reference, reference)


def put_manifest(prefix: str, repo: str, kind: str, reference: str,
                 content_type: str) -> list[Call]:
    name = _repo(prefix, repo)
    if kind == "schema1":
        media_type, body = mediatype.DOCKER_V2S1_SIGNED_MANIFEST, _schema1(
            name, reference if reference in TAGS else "v1")
    else:
        media_type, body = MANIFESTS[kind]
    ref = str(Digest.from_bytes(body)) if reference == "own-digest" else _reference(
        prefix, repo, reference)
    sent = {"right": media_type, "none": "", "other": mediatype.DOCKER_MANIFEST_LIST,
            "garbage": "text/plain;;"}[content_type]
    return [Call("PUT", f"/v2/{name}/manifests/{ref}", headers=(("Content-Type", sent),),
                 body=body)]


def read_manifest(prefix: str, repo: str, reference: str, method: str,
                  accept: str | None) -> list[Call]:
    headers = () if accept is None else (("Accept", accept),)
    return [Call(method, f"/v2/{_repo(prefix, repo)}/manifests/"
                         f"{_reference(prefix, repo, reference)}", headers=headers)]


def delete_manifest(prefix: str, repo: str, reference: str) -> list[Call]:
    return [Call("DELETE",
                 f"/v2/{_repo(prefix, repo)}/manifests/{_reference(prefix, repo, reference)}")]


def list_tags(prefix: str, repo: str, n: str | None, last: str | None) -> list[Call]:
    params = tuple((k, v) for k, v in (("n", n), ("last", last)) if v is not None)
    return [Call("GET", f"/v2/{_repo(prefix, repo)}/tags/list", params=params)]


CATALOG_SIZES = [None, "0", "1", "2", "x", "-1", "1001"]


def catalog(prefix: str, n: str | None, after: str) -> list[Call]:
    """``_catalog`` from after this sequence's prefix (or its r0): the shared registry
    lists every earlier sequence's repositories too, and prefixes grow (:func:`_prefix`),
    so the page holds this sequence's repositories only."""
    last = prefix if after == "prefix" else f"{prefix}/{after}"
    params = (("last", last),) if n is None else (("n", n), ("last", last))
    return [Call("GET", "/v2/_catalog", params=params)]


def referrers(prefix: str, repo: str, kind: str) -> list[Call]:
    return [Call("GET", f"/v2/{_repo(prefix, repo)}/referrers/"
                        f"{_reference(prefix, repo, kind)}")]


REPOS = st.sampled_from(["r0", "r1", "invalid"])
GOOD_REPOS = st.sampled_from(["r0", "r1"])
SESSIONS = st.integers(0, 3)
REFERENCES = st.sampled_from([*KINDS, *TAGS, "unknown-digest", "bad-digest"])
ACTIONS: dict[str, tuple[Callable[..., list[Call]], tuple[st.SearchStrategy[Any], ...]]] = {
    "seed": (seed, (GOOD_REPOS,)),
    "start_upload": (start_upload, (REPOS,)),
    "monolithic": (monolithic, (REPOS, st.sampled_from(list(BLOBS)),
                                st.sampled_from(["right", "wrong", "malformed"]))),
    "patch": (patch, (SESSIONS, st.sampled_from(list(BLOBS)),
                      st.sampled_from(["whole", "head", "tail"]),
                      st.sampled_from(["none", "good", "gap", "garbage"]))),
    "finish": (finish, (SESSIONS, st.sampled_from(list(BLOBS)), st.booleans(),
                        st.sampled_from(["right", "wrong", "missing", "malformed", "sha512"]))),
    "session_status": (session_status, (SESSIONS, st.sampled_from(["GET", "DELETE"]))),
    "blob_read": (blob_read, (REPOS, st.sampled_from([*BLOBS, "sha256:zz"]),
                              st.sampled_from(["GET", "HEAD"]),
                              st.sampled_from([None, "bytes=0-3", "bytes=2-", "bytes=999-"]))),
    "mount": (mount, (GOOD_REPOS, st.sampled_from(list(BLOBS)),
                      st.sampled_from([None, "r0", "r1", "nowhere"]))),
    "put_manifest": (put_manifest, (REPOS, st.sampled_from(KINDS),
                                    st.sampled_from([*TAGS[:3], "own-digest", "oci"]),
                                    st.sampled_from(["right", "right", "none", "other",
                                                     "garbage"]))),
    "read_manifest": (read_manifest, (REPOS, REFERENCES, st.sampled_from(["GET", "HEAD"]),
                                      st.sampled_from(ACCEPTS))),
    "delete_manifest": (delete_manifest, (GOOD_REPOS, REFERENCES)),
    "list_tags": (list_tags, (REPOS, st.sampled_from([None, "0", "1", "x"]),
                              st.sampled_from([None, "v1", "latest"]))),
    "referrers": (referrers, (GOOD_REPOS, st.sampled_from(["oci", "unknown-digest"]))),
    "catalog": (catalog, (st.sampled_from(CATALOG_SIZES), st.sampled_from(["prefix", "r0"]))),
}


def oversize_manifest(prefix: str, repo: str) -> list[Call]:
    return [Call("PUT", f"/v2/{_repo(prefix, repo)}/manifests/v1",
                 headers=(("Content-Type", mediatype.OCI_MANIFEST),),
                 body=b" " * (4 * 1024 * 1024 + 1))]


NAMED_ONLY: dict[str, Callable[..., list[Call]]] = {"oversize_manifest": oversize_manifest}
"""Actions too costly to draw (a 4 MiB body); named by hand only."""
STEPS = st.one_of([st.tuples(st.just(name), st.tuples(*args)).map(lambda t: Step(*t))
                   for name, (_, args) in ACTIONS.items()])


# -- running and observing ---------------------------------------------------------------
BROKEN = "a body shorter than its Content-Length"


@dataclass
class Side:
    """One registry under test, with the upload Locations it handed out."""

    url: str
    http: requests.Session = field(default_factory=requests.Session)
    sessions: list[str] = field(default_factory=list)

    def send(self, call: Call) -> requests.Response | str | None:
        """The answer, None when *call* names an upload this side never opened, or
        :data:`BROKEN` when the answer's body is shorter than its Content-Length."""
        index = call.session if call.session >= 0 else len(self.sessions) - 1
        if call.session == -1:
            target = self.url + call.path
        elif 0 <= index < len(self.sessions):
            target = urljoin(self.url + "/", self.sessions[index])
        else:
            return None
        if call.params:
            target += ("&" if "?" in target else "?") + urlencode(call.params)
        try:
            response = self.http.request(call.method, target, headers=dict(call.headers),
                                         data=call.body, allow_redirects=False)
        except requests.exceptions.ChunkedEncodingError:
            return BROKEN
        if call.opens_session and response.status_code == 202:
            self.sessions.append(response.headers["Location"])
        elif call.session != -1 and response.status_code in {202, 204} and (
                "Location" in response.headers):
            # As clients do: the next request of an upload goes where this answer says
            # (distribution's Location carries the upload's state, offset included).
            self.sessions[index] = response.headers["Location"]
        return response


def observe(response: requests.Response | str | None) -> dict[str, object]:
    """What a client reads of an answer: status, error code, compared headers, body."""
    if not isinstance(response, requests.Response):
        return {"status": response}
    seen: dict[str, object] = {"status": response.status_code}
    try:
        errors = response.json()["errors"]
        seen["code"] = errors[0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        seen["body"] = response.content
    seen.update({name: response.headers[name] for name in COMPARED if name in response.headers})
    if "WWW-Authenticate" in seen:
        seen["WWW-Authenticate"] = challenge_parts(response.headers["WWW-Authenticate"])
    return seen


def challenge_parts(header: str) -> object:
    """A Bearer challenge as clients read it: its realm, service, error, and the scope as
    a set of (type, name, set of actions). distribution builds the scope from Go maps, so
    the order of its scopes and of their actions changes from answer to answer. Anything
    else (a Basic challenge) is compared as sent."""
    scheme, _, rest = header.partition(" ")
    if scheme != "Bearer" or not re.fullmatch(r'(\w+="[^"]*")(,\w+="[^"]*")*', rest):
        return header
    params: dict[str, object] = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    if isinstance(scope := params.get("scope"), str):
        params["scope"] = frozenset(_scope_item(item) for item in scope.split(" "))
    return params


def _scope_item(item: str) -> tuple[str, str, frozenset[str]]:
    """``type:name:actions``; a name may hold a colon (``host:5000/repo``)."""
    kind, _, rest = item.partition(":")
    name, _, actions = rest.rpartition(":")
    return kind, name, frozenset(actions.split(","))


def _location_path(real: dict[str, object], fake: dict[str, object], base: str) -> None:
    for seen in (real, fake):
        location = seen.get("Location")
        if isinstance(location, str):
            path = urlsplit(urljoin(base + "/", location)).path
            seen["Location"] = re.sub(r"/blobs/uploads/[^/]+$", "/blobs/uploads/<id>", path)


STALE = "a Location whose _state went stale"


def _stale_state(real: dict[str, object], fake: dict[str, object], base: str) -> None:
    if real.get("code") == "BLOB_UPLOAD_INVALID" and real.get("status") == 404 and (
            fake.get("code") != "BLOB_UPLOAD_INVALID"):
        real["status"] = STALE


def _error_text(real: dict[str, object], fake: dict[str, object], base: str) -> None:
    for seen in (real, fake):
        headless = seen.get("body") == b"" and str(seen.get("Content-Type")).startswith(
            "application/json")  # the error of a HEAD: its length, not its body
        if "code" in seen or (headless and isinstance(seen["status"], int)
                              and seen["status"] >= 400):
            seen.pop("Content-Length", None)


def _tag_order(real: dict[str, object], fake: dict[str, object], base: str) -> None:
    for seen in (real, fake):
        body = seen.get("body")
        if isinstance(body, bytes) and body.startswith(b'{"name"'):
            listed = json.loads(body)
            listed["tags"] = sorted(listed.get("tags") or [])
            seen["body"] = listed
            seen.pop("Content-Length", None)


def _schema1_signatures(real: dict[str, object], fake: dict[str, object], base: str) -> None:
    for seen in (real, fake):
        body = seen.get("body")
        if (seen.get("Content-Type") == mediatype.DOCKER_V2S1_SIGNED_MANIFEST
                and isinstance(body, bytes) and seen.get("status") == 200):
            seen["body"] = schema1.payload(body)
            seen.pop("Content-Length", None)


def _unsatisfiable_range(real: dict[str, object], fake: dict[str, object], base: str) -> None:
    if fake.get("status") == 416 and (real.get("status") == BROKEN or (
            real.get("status") == 416 and real.get("Content-Type") != fake.get("Content-Type"))):
        fake.clear()
        fake.update(real)


def _upload_limit(real: dict[str, object], fake: dict[str, object], base: str) -> None:
    if fake.get("code") == "TOOMANYREQUESTS" and real.get("status") == 202:
        fake.clear()
        fake.update(real)


def _colon_reference(real: dict[str, object], fake: dict[str, object], base: str) -> None:
    if real.get("status") == 500 and real.get("code", "UNKNOWN") == "UNKNOWN" and fake.get(
            "status") in {400, 404} and fake.get("code") in {None, "MANIFEST_UNKNOWN",
                                                             "DIGEST_INVALID"}:
        for seen in (real, fake):
            seen.update(status="not a 500", code="-")
            seen.pop("Content-Length", None)


NORMALISERS: dict[str, Callable[[dict[str, object], dict[str, object], str], None]] = {
    "location-form": _location_path,
    "stale-upload-state": _stale_state,
    "error-text": _error_text,
    "tag-order": _tag_order,
    "schema1-signatures": _schema1_signatures,
    "unsatisfiable-range": _unsatisfiable_range,
    "colon-reference-500": _colon_reference,
    "upload-limit": _upload_limit,
}


# -- reproduction --------------------------------------------------------------------------
SHELL_HELPERS = r"""REGISTRY=${REGISTRY:-http://127.0.0.1:5000}
S=()  # the upload Locations, numbered as the test numbers them
send() { out=$(curl -si "$@"); printf '%s\n\n' "$out"; }
status() { printf '%s' "$out" | head -1 | cut -d' ' -f2; }
loc() { printf '%s' "$out" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p' | sed "s#^/#$REGISTRY/#"; }
at() { case "$1" in *\?*) printf '%s&%s' "$1" "$2";; *) printf '%s?%s' "$1" "$2";; esac; }"""


def curl_script(calls: list[Call]) -> str:
    """The calls as a bash script against $REGISTRY that follows upload Locations as the
    test does (an upload's next request goes where the last answer said)."""
    lines = [SHELL_HELPERS]
    for call in calls:
        index = str(call.session) if call.session >= 0 else "${#S[@]}-1"
        base = f'"$REGISTRY{call.path}"' if call.session == -1 else f'"${{S[{index}]}}"'
        target = f'"$(at {base} {shlex.quote(urlencode(call.params))})"' if call.params else base
        args = ["send", "-I" if call.method == "HEAD" else f"-X {call.method}"]
        args += [f"-H {shlex.quote(f'{name}: {value}')}" for name, value in call.headers]
        if call.body:
            if "Content-Type" not in dict(call.headers):  # as requests: none (curl's form
                args.append("-H 'Content-Type:'")  # type would make Go parse the body)
            args.append(f"--data-binary {shlex.quote(call.body.decode('latin-1'))}")
        command = " ".join([*args, target])
        if call.opens_session:
            command += '; [ "$(status)" = 202 ] && S+=("$(loc)")'
        elif call.session != -1:
            command += f'; case "$(status)" in 202|204) [ -n "$(loc)" ] && S[{index}]=$(loc);; esac'
        lines.append(command)
    return "\n".join(lines)


# -- the test ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake_28() -> Iterator[str]:
    with serve(Registry(PROFILE)) as server:
        yield server.url


SHOWN_ELSEWHERE = {"short-body-session": "test_fake_short_body.py"}
"""Differences no drawn sequence reaches (a body cut short on a raw socket): the named
module asserts each side's answers."""


def test_every_deliberate_difference_is_named_in_the_profile() -> None:
    assert set(NORMALISERS) | set(SHOWN_ELSEWHERE) == {name for name, _ in PROFILE.differences}
    assert not set(NORMALISERS) & set(SHOWN_ELSEWHERE)
    assert all(len(reason) > 40 for _, reason in PROFILE.differences)


# The registries are shared by all examples (each example uses its own repositories).
@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                  HealthCheck.too_slow])
@given(steps=st.lists(STEPS, min_size=1, max_size=12))
def test_distribution_28_profile_answers_like_distribution_282(
        distribution: RunningRegistry, steps: list[Step]) -> None:
    with serve(Registry(PROFILE)) as server:  # a fresh fake: no sessions left open before
        _compare(Side(distribution.url), Side(server.url), [(step, ()) for step in steps])


def test_catalog_pages_like_distribution_282(distribution: RunningRegistry) -> None:
    """Every ``n`` and ``last`` the sequences draw, after two repositories: the drawn
    sequences reach a catalog of several repositories only now and then."""
    steps = [Step("seed", ("r0",)), Step("seed", ("r1",)), *(
        Step("catalog", (n, after)) for n in CATALOG_SIZES for after in ("prefix", "r0"))]
    with serve(Registry(PROFILE)) as server:
        _compare(Side(distribution.url), Side(server.url), [(step, ()) for step in steps])


# -- the spec profile: strict where 2.8.2 is not, on purpose ---------------------------------
_PUT_V1 = Step("put_manifest", ("r0", "v2s2", "v1", "right"))
STRICT: dict[str, tuple[list[Step], dict[str, object]]] = {
    "tags_sorted": ([Step("seed", ("r0",)), Step("put_manifest", ("r0", "v2s2", "v1", "right")),
                     Step("put_manifest", ("r0", "oci", "latest", "right")),
                     Step("list_tags", ("r0", None, None))],
                    {"status": 200, "tags": ["latest", "v1"]}),
    "tags_paginate": ([Step("seed", ("r0",)), _PUT_V1,
                       Step("put_manifest", ("r0", "oci", "latest", "right")),
                       Step("list_tags", ("r0", "1", None))], {"status": 200, "tags": ["latest"]}),
    "catalog_pages": ([Step("seed", ("r0",)), Step("catalog", ("x", "prefix"))],
                      {"status": 400, "code": "PAGINATION_NUMBER_INVALID"}),
    "chunk_ranges_checked": ([Step("start_upload", ("r0",)),
                              Step("patch", (0, "layer", "whole", "gap"))],
                             {"status": 416, "code": "RANGE_INVALID"}),
    "monolithic_post": ([Step("monolithic", ("r0", "layer", "right"))], {"status": 201}),
    "empty_tags_unknown": ([Step("seed", ("r0",)), Step("list_tags", ("r0", None, None))],
                           {"status": 200}),
    "oversize_manifest_invalid": ([Step("oversize_manifest", ("r0",))], {"status": 413}),
    "grammar_errors_not_found": ([Step("put_manifest", ("r0", "oci", "-bad", "right"))],
                                 {"status": 400, "code": "TAG_INVALID"}),
    "delete_by_tag": ([Step("seed", ("r0",)), _PUT_V1, Step("delete_manifest", ("r0", "v1"))],
                      {"status": 202}),
    "referrers": ([Step("referrers", ("r0", "oci"))], {"status": 200}),
    "negotiation": ([Step("seed", ("r0",)), _PUT_V1,
                     Step("read_manifest", ("r0", "v1", "GET", None))],
                    {"status": 200, "Content-Type": mediatype.DOCKER_V2S2_MANIFEST}),
    "manifest_in_unknown_repository": ([Step("read_manifest", ("r1", "v1", "GET", None))],
                                       {"status": 404, "code": "NAME_UNKNOWN"}),
    "untyped_manifest": ([Step("seed", ("r0",)), Step("put_manifest", ("r0", "oci", "v1",
                                                                      "none"))],
                         {"status": 201}),
    "upload_survives_bad_digest": ([Step("start_upload", ("r0",)),
                                    Step("patch", (0, "layer", "whole", "none")),
                                    Step("finish", (0, "layer", False, "wrong")),
                                    Step("finish", (0, "layer", False, "right"))],
                                   {"status": 404, "code": "BLOB_UPLOAD_UNKNOWN"}),
}
"""For each switch the spec profile sets unlike 2.8.2, a sequence whose last answer shows
it, and what the spec profile answers there."""


STRICT_ELSEWHERE = {"short_body": "test_fake_short_body.py"}
"""Switches whose sequence no Step can send (a body cut short on a raw socket): compared
with 2.8.2 and both profiles in the named module."""


def test_the_spec_profile_says_why_for_every_switch_unlike_distribution_28() -> None:
    spec, faithful = PROFILES["spec"], PROFILE
    unlike = {f.name for f in fields(spec) if f.name not in _NOT_SWITCHES
              and getattr(spec, f.name) != getattr(faithful, f.name)}
    assert unlike == {name for name, _ in spec.unlike_distribution}
    assert unlike == set(STRICT) | set(STRICT_ELSEWHERE)
    assert not set(STRICT) & set(STRICT_ELSEWHERE)
    assert all(len(reason) > 40 for _, reason in spec.unlike_distribution)


_NOT_SWITCHES = {"name", "quirk", "differences", "unlike_distribution"}


@pytest.mark.parametrize("switch", sorted(STRICT))
def test_spec_is_strict_where_distribution_282_is_not(distribution: RunningRegistry,
                                                      switch: str) -> None:
    """The sequence runs on 2.8.2 and on both profiles: ``distribution-2.8`` answers as
    2.8.2 throughout; ``spec`` answers the last request as the spec asks, unlike 2.8.2."""
    steps, expected = STRICT[switch]
    prefix = _prefix()
    with serve(Registry(PROFILE)) as faithful, serve(Registry("spec")) as strict:
        real = Side(distribution.url)
        real_last = _compare(real, Side(faithful.url), [(step, ()) for step in steps], prefix)
        spec = Side(strict.url)
        calls = [call for step in steps for call in step.calls(prefix)]
        seen = [observe(spec.send(call)) for call in calls][-1]
    assert _shown(seen, expected) == expected
    if switch != "tags_sorted":  # 2.8.2's directory order may happen to be sorted
        assert _shown(real_last, expected) != expected


def _shown(seen: dict[str, object], expected: dict[str, object]) -> dict[str, object]:
    """The keys of *expected* in an observation; ``tags`` is read from a tag list body."""
    body = seen.get("body")
    if "tags" in expected and isinstance(body, bytes | dict):
        seen = {**seen, "tags": (json.loads(body) if isinstance(body, bytes) else body)["tags"]}
    return {key: seen.get(key) for key in expected}


def _prefix() -> str:
    """A repository prefix that sorts after every earlier one and after other tests'
    repositories (``_catalog`` pages start there)."""
    return f"zz-diff/{time.time_ns()}"


def _compare(real: Side, fake: Side, steps: list[tuple[Step, Headers]],
             prefix: str | None = None) -> dict[str, object]:
    """Send each step to both; every answer must agree. The last answer compared."""
    prefix = prefix or _prefix()
    done: list[Call] = []
    seen_real: dict[str, object] = {}
    for step, extra in steps:
        for drawn in step.calls(prefix):
            call = replace(drawn, headers=(*drawn.headers, *extra))
            done.append(call)
            seen_real, seen_fake = observe(real.send(call)), observe(fake.send(call))
            for apply in NORMALISERS.values():
                apply(seen_real, seen_fake, "http://registry")
            if seen_real.get("status") == STALE:
                return seen_real  # the upload goes on only on the fake: nothing more to compare
            assert seen_fake == seen_real, (
                f"the fake differs from distribution 2.8.2 at request {len(done)}:\n"
                f"  distribution: {seen_real}\n  fake:         {seen_fake}\n"
                f"reproduce (repository prefix {prefix}):\n{curl_script(done)}")
    return seen_real


# -- auth: one token server in front of both -----------------------------------------------
Headers = tuple[tuple[str, str], ...]
ROLES = ("anonymous", "writer", "reader", "narrow", "untrusted", "expired", "malformed",
         "basic")
"""Who sends a step: no token; a token for every scope the sequence can need (writer);
the same asked by a read-only user, who is granted pull only (reader); a token for pull
on r0 alone (narrow); a token signed by a key no one trusts (untrusted); an expired one;
a Bearer value that is no JWT (malformed); Basic credentials instead of a token."""
_NOT_TOKENS = {"malformed": "Bearer not.a-token", "basic": "Basic d3JpdGVyOnB3"}


@dataclass(frozen=True)
class TokenWorld:
    """The token server, and the distribution behind it."""

    server: TokenServer
    distribution: RunningRegistry

    def token(self, role: str, prefix: str) -> str:
        repos = [f"{prefix}/r0", f"{prefix}/r1"]
        service = self.server.auth.service
        if role in {"untrusted", "expired"}:
            signer = TokenSigner.generate(ISSUER) if role == "untrusted" else self.server.signer
            now = int(time.time())
            return signer.sign({
                "iss": ISSUER, "aud": service, "nbf": now - 7200,
                "exp": now + 300 if role == "untrusted" else now - 3600,
                "access": [{"type": "repository", "name": repo,
                            "actions": ["pull", "push", "delete"]} for repo in repos]})
        scopes = [f"repository:{repos[0]}:pull"] if role == "narrow" else [
            *(f"repository:{repo}:pull,push,delete" for repo in repos), "registry:catalog:*"]
        answer = requests.get(self.server.realm, params={"service": service, "scope": scopes},
                              auth=("reader" if role == "reader" else "writer", "pw"))
        answer.raise_for_status()
        token: str = answer.json()["token"]
        return token


@pytest.fixture(scope="module")
def token_world() -> Iterator[TokenWorld]:
    """A fake as the token server (loopback; writer may do anything, reader only pull)
    and a docker-registry 2.8.2 that trusts its key (``auth.token``)."""
    with token_server({"writer": "pw", "reader": "pw"}, frozenset({"reader"})) as server, \
            server.distribution().start() as registry:
        yield TokenWorld(server, registry)


@pytest.mark.requires_peer("docker-registry")
@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(STEPS, st.sampled_from(ROLES)), min_size=1, max_size=10))
def test_token_auth_answers_like_distribution_282_behind_the_same_token_server(
        token_world: TokenWorld, steps: list[tuple[Step, str]]) -> None:
    """Each step is sent as one of :data:`ROLES`, the same token to both registries: the
    status, the code and the challenge (realm, service, scopes, error) must agree."""
    prefix, tokens = _prefix(), {}
    for role in {role for _, role in steps} - {"anonymous"}:
        value = _NOT_TOKENS.get(role) or f"Bearer {token_world.token(role, prefix)}"
        tokens[role] = (("Authorization", value),)
    with serve(token_world.server.fake(PROFILE.name)) as server:
        _compare(Side(token_world.distribution.url), Side(server.url),
                 [(step, tokens.get(role, ())) for step, role in steps], prefix)


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None,
                    reason="the reproduction is a bash script of curl commands")
def test_the_printed_reproduction_replays_the_sequence(fake_28: str) -> None:
    """The curl script answers as the test's own requests did, upload Locations included."""
    steps = [Step("seed", ("r0",)), Step("start_upload", ("invalid",)),
             Step("start_upload", ("r0",)), Step("patch", (3, "layer", "head", "good")),
             Step("finish", (3, "layer", True, "right")),
             Step("put_manifest", ("r0", "oci", "v1", "right")),
             Step("read_manifest", ("r0", "oci", "GET", mediatype.OCI_MANIFEST)),
             Step("list_tags", ("r0", "1", None))]
    side, first, second = Side(fake_28), uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    calls = [call for step in steps for call in step.calls(f"replay/{first}")]
    expected = [observe(side.send(call))["status"] for call in calls]
    calls = [call for step in steps for call in step.calls(f"replay/{second}")]
    replayed = subprocess.run(["bash", "-c", curl_script(calls)], capture_output=True,
                              text=True, check=True, env={**os.environ, "REGISTRY": fake_28})
    statuses = [int(line.split()[1]) for line in replayed.stdout.splitlines()
                if line.startswith("HTTP/1.1 ")]
    assert statuses == expected
    assert expected[-4:] == [201, 201, 200, 200]
