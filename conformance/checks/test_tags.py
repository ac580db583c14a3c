"""Tags: created, moved, listed in order with pagination, validated, deleted."""

from __future__ import annotations

import re

from conformance import content
from conformance.expect import (
    CheckFailed,
    describe,
    expect_error,
    expect_header,
    expect_status,
    unsupported,
)
from conformance.repo import Repo, unique_tag
from conformance.rules import DOCKER, may, must

_LIST = "Listing Tags"
_GRAMMAR = ("Throughout this document, <reference> as a tag MUST be at most 128 characters in "
            "length and MUST match the following regular expression: "
            "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")

_LINK = re.compile(r"<([^>]+)>\s*;\s*rel=\"?next\"?")


# Tags are pushed in this scrambled order: a registry that lists them in push order, or in
# an arbitrary storage order, cannot pass the order checks by luck (12 tags: 1 in 479 million).
_SCRAMBLED = "dbeachgfljki"


def _tag_several(repo: Repo, count: int) -> list[str]:
    """Push one manifest under *count* (at most 12) new tags sharing a random prefix; sorted."""
    manifest = repo.push(content.oci_manifest())
    prefix = unique_tag("p")
    tags = [f"{prefix}-{letter}" for letter in _SCRAMBLED[:count]]
    for tag in tags:
        expect_status(repo.put_manifest(manifest, tag), 201)
    return sorted(tags)


@must(_LIST, "GET /v2/<name>/tags/list: assuming a repository is found, this request MUST "
      "return a 200 OK response code, with a body naming the repository and its tags.")
def test_tag_list(repo: Repo) -> None:
    """GET tags/list names the repository and lists every tag pushed to it."""
    tags = _tag_several(repo, 3)
    response = repo.tags()
    expect_status(response, 200)
    body = response.json()
    assert body.get("name") == repo.name, f"tag list names {body.get('name')!r}, not {repo.name!r}"
    missing = set(tags) - set(body.get("tags") or [])
    assert not missing, f"tags missing from the list: {sorted(missing)}"


def _in_order(tags: list[str]) -> bool:
    """Sorted the way the spec allows: ASCII ("ASCIIbetical") or case-insensitive."""
    return tags in (sorted(tags), sorted(tags, key=str.lower))


@must(_LIST, "If the list is not empty, the tags MUST be in lexical order (i.e. "
      "case-insensitive alphanumeric order).")
def test_tag_list_sorted(repo: Repo) -> None:
    """The tag list is in lexical (case-insensitive) or ASCII order."""
    _tag_several(repo, 12)
    listed = repo.tag_names()
    assert _in_order(listed), f"tag list not sorted: {listed[:10]}"


@must(_LIST, "?n=<integer>: the response MUST include up to <integer> tags (fewer only "
      "with a Link header or when there are fewer); n=0 gives an empty list.")
def test_tag_list_n(repo: Repo) -> None:
    """?n=N returns the first N tags (fewer only with a Link header); ?n=0 none, no Link."""
    _tag_several(repo, 5)
    full = sorted(repo.tag_names())
    response = repo.tags({"n": "2"})
    expect_status(response, 200)
    page = response.json().get("tags") or []
    assert 0 < len(page) <= 2 and page == full[:len(page)], (
        f"?n=2 returned {page[:10]}, expected the first tags of {full[:2]}")
    assert len(page) == 2 or "Link" in response.headers, (
        f"?n=2 returned {len(page)} tag(s) of {len(full)} without a Link header")
    empty = repo.tags({"n": "0"})
    expect_status(empty, 200)
    assert not empty.json().get("tags") and "Link" not in empty.headers, (
        f"?n=0 returned {empty.json().get('tags')} (Link: {empty.headers.get('Link')})")


@must(_LIST, "?last=<tagname>: the response MUST be a list of up to n tags beginning "
      "non-inclusively with <tagname>, in lexical order.")
def test_tag_list_last(repo: Repo) -> None:
    """?last=T returns only tags after T, in order."""
    tags = _tag_several(repo, 5)
    response = repo.tags({"n": "2", "last": tags[1]})
    expect_status(response, 200)
    page = response.json().get("tags") or []
    assert page and all(t > tags[1] for t in page) and page[0] <= tags[2], (
        f"?n=2&last={tags[1]} returned {page[:10]}, expected tags after it starting <= {tags[2]}")


@may(_LIST, "The response MAY include a Link header with rel=\"next\"; when present it "
     "MUST name the next page of the list.")
def test_tag_list_link(repo: Repo) -> None:
    """A Link header on a partial page (optional) names the next page, which continues the list."""
    _tag_several(repo, 5)
    full = sorted(repo.tag_names())
    first = repo.tags({"n": "2"})
    expect_status(first, 200)
    if "Link" not in first.headers:
        unsupported("no Link header on a partial tag page (clients paginate with last=)")
    match = _LINK.search(first.headers["Link"])
    if match is None:
        raise CheckFailed(f"Link header {first.headers['Link']!r} has no rel=next URL")
    second = repo.client.request("GET", match.group(1))
    expect_status(second, 200)
    page = second.json().get("tags") or []
    assert page == full[2:4], f"the Link page returned {page}, expected {full[2:4]}"


@must("Pushing Manifests", "A manifest PUT by tag points the tag at that manifest, also "
      "when the tag named another one before.")
def test_tag_overwrite(repo: Repo) -> None:
    """PUT of another manifest under an existing tag moves the tag to it."""
    tag = unique_tag("mv")
    repo.push(content.oci_manifest(), tag)
    second = repo.push(content.oci_manifest(), tag)
    response = repo.get_manifest(tag, accept=second.media_type)
    expect_status(response, 200)
    assert response.content == second.data, "the tag still serves the first manifest"


@must("Pulling manifests", "A GET request to an existing manifest URL MUST provide the "
      "expected manifest; by tag and by the digest it announces, the same bytes.")
def test_tag_digest_agree(repo: Repo) -> None:
    """The Docker-Content-Digest of a tag names a manifest with the same bytes."""
    tag = unique_tag("ag")
    manifest = repo.push(content.oci_manifest(), tag)
    by_tag = repo.get_manifest(tag, accept=manifest.media_type)
    expect_status(by_tag, 200)
    digest = expect_header(by_tag, "Docker-Content-Digest")
    by_digest = repo.get_manifest(digest, accept=manifest.media_type)
    expect_status(by_digest, 200)
    assert by_digest.content == by_tag.content, f"{tag} and {digest} serve different bytes"


@must("Pushing Manifests", _GRAMMAR + "; a PUT by another tag fails (400 Bad Request, "
      "TAG_INVALID optional, or 404 Not Found, both listed for this endpoint).")
def test_tag_invalid(repo: Repo) -> None:
    """PUT by a tag outside [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} is refused (400 or 404)."""
    manifest = content.oci_manifest()
    for blob in manifest.blobs:
        repo.push_blob(blob)
    for tag in ("-starts-with-dash", "a" * 129, ".dot"):
        expect_status(repo.put_manifest(manifest, tag), 400, 404)


@must("Pushing Manifests", _GRAMMAR + ".")
def test_tag_longest(repo: Repo) -> None:
    """A tag of 128 characters, the longest the grammar allows, is accepted and listed."""
    tag = ("L" + unique_tag("x").replace("-", "_") * 12 + "_" * 128)[:128]
    manifest = content.oci_manifest()
    for blob in manifest.blobs:
        repo.push_blob(blob)
    expect_status(repo.put_manifest(manifest, tag), 201)
    assert tag in repo.tag_names(), "the 128-character tag is not in the tag list"


@must("Error Codes", "NAME_UNKNOWN: repository name not known to registry (a tag list of "
      "a repository that does not exist is 404 Not Found).")
def test_repository_unknown(repo: Repo) -> None:
    """The tag list of a repository that does not exist answers 404 NAME_UNKNOWN."""
    response = repo.client.request("GET", f"/v2/{repo.name}/{unique_tag('nx')}/tags/list")
    expect_error(response, 404, "NAME_UNKNOWN")


@may("Listing Repositories (GET /v2/_catalog)", "An optional extension: ?n=<int> returns at "
     "most n repository names in lexical order; ?last=<name> continues after <name>.", DOCKER)
def test_catalog_pagination(repo: Repo, other_repo: Repo) -> None:
    """_catalog (optional) pages with n and last: one name, then only names after it."""
    repo.push(content.oci_manifest())
    other_repo.push(content.oci_manifest())
    first = repo.client.request("GET", "/v2/_catalog", params={"n": "1"})
    if first.status_code in {401, 403, 404, 405}:
        unsupported(f"no _catalog for this client: {describe(first)}")
    expect_status(first, 200)
    page = first.json().get("repositories") or []
    assert len(page) == 1, f"_catalog?n=1 returned {len(page)} names: {page[:5]}"
    second = repo.client.request("GET", "/v2/_catalog", params={"n": "1", "last": page[0]})
    expect_status(second, 200)
    after = second.json().get("repositories") or []
    assert len(after) == 1 and after[0] > page[0], (
        f"_catalog?n=1&last={page[0]} returned {after[:5]}, expected one name after it")
