"""Behaviour profiles: switches that make the fake answer like a specific real registry.

``spec`` is the OCI distribution spec v1.1 read strictly. The other presets reproduce
what users meet in the field; each preset's ``quirk`` says what it is for, and
docs/fakeregistry.md shows how each deviation was observed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from harness.model.limits import MAX_MANIFEST_SIZE
from harness.util.errors import HarnessError

MountMode = Literal["spec", "disabled", "referenced"]


@dataclass(frozen=True)
class Profile:
    """One switch per observable deviation; the defaults are the spec."""

    name: str = "spec"
    quirk: str = "the OCI distribution spec v1.1, nothing more"
    schema1: bool = True
    """Accept schema1 manifests (distribution v3 and recent Docker Hub reject them)."""
    delete: bool = True
    """Manifest, tag and blob DELETE; off answers 405 UNSUPPORTED."""
    mount: MountMode = "spec"
    """spec: mount any blob readable in ``from``; disabled: always a new session (202);
    referenced: mount only blobs a manifest in ``from`` references (ECR)."""
    mount_without_from: Literal["session", "invalid"] = "session"
    """``?mount=`` without ``from``: a normal session, or 400 (old Quay)."""
    mount_unknown_from: Literal["session", "unauthorized"] = "session"
    """``from`` naming a repository that does not exist: a session, or 401 (Harbor)."""
    referrers: bool = True
    tag_page_limit: int | None = None
    """Largest page the tag list and catalog return, even when ``n`` asks for more."""
    catalog_pages: Literal["spec", "distribution"] = "spec"
    """``_catalog``'s ``n``: spec: a digit string (else PAGINATION_NUMBER_INVALID), no
    page limit unless ``tag_page_limit``, ``Link: <…?n=N&last=L>``. distribution (2.8):
    an ``n`` that is no integer, or negative, is ignored; pages of 100 by default and
    at most 1000 (more is PAGINATION_NUMBER_INVALID); ``Link: <…?last=L&n=N>``."""
    tags_sorted: bool = True
    tags_paginate: bool = True
    """Honour ``n``/``last`` on the tag list (distribution 2.8 ignores both)."""
    chunk_min_length: int | None = None
    """Advertised as ``OCI-Chunk-Min-Length`` on upload sessions."""
    empty_tags_unknown: bool = False
    """An existing repository without tags answers 404 NAME_UNKNOWN to a tag list."""
    chunk_ranges_checked: bool = True
    """Check a PATCH's Content-Range (start = current offset, span = body length); off
    appends every chunk whatever its Content-Range says (distribution 2.8)."""
    monolithic_post: bool = True
    """``POST ?digest=`` with a body stores the blob (201); off opens a session and
    drops the body (202), as distribution 2.8 does."""
    oversize_manifest_invalid: bool = False
    """A manifest over the size limit is 400 MANIFEST_INVALID instead of 413."""
    delete_by_tag: bool = True
    """DELETE /manifests/<tag> removes the tag; off answers 400 DIGEST_INVALID (2.8)."""
    negotiation: Literal["spec", "distribution"] = "spec"
    """How a manifest GET uses ``Accept``. spec: a stored type missing from a non-empty
    ``Accept`` (``*/*`` accepts all) is MANIFEST_UNKNOWN. distribution: OCI types need
    their type in ``Accept``; by tag, a Docker list becomes its linux/amd64 image for a
    client that does not accept lists, and schema2 becomes signed schema1 for a client
    that does not accept schema2; anything else is served as stored."""
    grammar_errors_not_found: bool = False
    """A tag or repository name outside the grammar matches no route: plain 404
    instead of TAG_INVALID/NAME_INVALID (distribution's router does this)."""
    manifest_size_limit: int = MAX_MANIFEST_SIZE
    upload_survives_bad_digest: bool = False
    """A PUT that closes an upload with the wrong digest leaves the session open, bytes
    kept, so a PUT with the right digest can still finish it (distribution 2.8); off,
    the session ends and its content is dropped."""
    untyped_manifest: Literal["sniff", "schema1"] = "sniff"
    """A manifest PUT whose Content-Type is empty or ``application/json``: read its type
    from the body, or take it for signed schema1 (distribution 2.x's default, so any
    other body is MANIFEST_INVALID)."""
    manifest_in_unknown_repository: Literal["NAME_UNKNOWN", "MANIFEST_UNKNOWN"] = "NAME_UNKNOWN"
    """The code of a manifest GET/HEAD/DELETE in a repository that does not exist
    (distribution 2.8: MANIFEST_UNKNOWN, the repository is not looked at)."""
    short_body: Literal["invalid", "client-closed"] = "invalid"
    """An upload body that ends before its Content-Length (or a broken chunked one, 400
    in both modes) ends the session, its bytes dropped; the answer is 400
    BLOB_UPLOAD_INVALID (invalid) or, as distribution 2.8 answers a client gone
    mid-body, 499 UNKNOWN (client-closed)."""
    differences: tuple[tuple[str, str], ...] = ()
    """Where the fake differs on purpose from the registry it imitates: (name, reason).
    The differential test (tests/fakeregistry/test_fake_differential.py) allows exactly
    these, by name, and nothing else."""
    unlike_distribution: tuple[tuple[str, str], ...] = ()
    """The switches on which this profile answers unlike distribution 2.8.2 on purpose:
    (switch, reason). For ``spec``: where the spec is strict and 2.8.2 is not; the
    differential test runs each against 2.8.2 and both profiles."""

    def replace(self, **changes: object) -> Profile:
        """A copy with some switches changed (for tests and the CLI)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


SPEC_UNLIKE_DISTRIBUTION = (
    ("tags_sorted", "the spec lists tags in lexical order; 2.8.2 in directory order"),
    ("tags_paginate", "the spec pages the tag list with n and last and a Link to the next "
                      "page; 2.8.2 ignores both and lists every tag"),
    ("catalog_pages", "an n that is no number is PAGINATION_NUMBER_INVALID, as the spec "
                      "says of the tag list, with no page cap the client did not ask for; "
                      "2.8.2 ignores a bad n and pages by 100"),
    ("chunk_ranges_checked", "the spec: a chunk's Content-Range must start where the "
                             "upload ends (416 otherwise); 2.8.2 appends any chunk"),
    ("monolithic_post", "the spec: POST ?digest= with the blob as body is a complete "
                        "upload (201); 2.8.2 opens a session and drops the body"),
    ("empty_tags_unknown", "a repository the registry knows, with no tags, lists an empty "
                           "tag list; 2.8.2 answers NAME_UNKNOWN"),
    ("oversize_manifest_invalid", "the spec: a manifest over the registry's limit is 413; "
                                  "2.8.2 answers 400 MANIFEST_INVALID"),
    ("grammar_errors_not_found", "the spec's error codes for a bad name or tag "
                                 "(NAME_INVALID, TAG_INVALID); 2.8.2's router answers a "
                                 "plain 404 page"),
    ("delete_by_tag", "spec v1.1: DELETE of a tag removes the tag (202); 2.8.2 refuses "
                      "with DIGEST_INVALID"),
    ("referrers", "spec v1.1 has the referrers API; 2.8.2 has no such route"),
    ("negotiation", "the spec serves a manifest as it was pushed; 2.8.2 converts schema2 "
                    "to signed schema1 (and a list to one image) for a client whose Accept "
                    "does not name them"),
    ("manifest_in_unknown_repository", "NAME_UNKNOWN for a repository that does not exist, "
                                       "as the spec's codes say; 2.8.2 answers "
                                       "MANIFEST_UNKNOWN without looking"),
    ("untyped_manifest", "a manifest PUT without Content-Type takes its type from the "
                         "body's mediaType; 2.8.2 takes it for signed schema1 and refuses "
                         "anything else"),
    ("short_body", "a body cut short of its Content-Length is 400 BLOB_UPLOAD_INVALID, "
                   "the spec's code for a bad upload; 2.8.2 answers its own 499 UNKNOWN "
                   "(client disconnected)"),
    ("upload_survives_bad_digest", "an upload whose digest does not verify ends, its "
                                   "bytes dropped: content is the digest's or nothing; "
                                   "2.8.2 keeps it open for another try"),
)

SPEC = Profile(unlike_distribution=SPEC_UNLIKE_DISTRIBUTION)

DISTRIBUTION_28_DIFFERENCES = (
    ("location-form",
     "Location: distribution answers absolute URLs, and an upload's carries an opaque "
     "_state query; the fake answers the path. Clients resolve a Location against the "
     "request URL and keep its query, so both lead to the same resource; compared: the "
     "path, with the session id replaced. (An upload URL made up without _state is "
     "BLOB_UPLOAD_INVALID on distribution; no client sends one, none is generated.)"),
    ("stale-upload-state",
     "distribution's upload Location carries the offset in _state; an answer without a "
     "new Location that still changed the upload (a PUT with the wrong digest and a "
     "body) leaves the client's Location stale: 404 BLOB_UPLOAD_INVALID. The fake keeps "
     "no state in its Locations, so none goes stale; a sequence is compared up to there."),
    ("error-text",
     "Error bodies: status and code agree, the message and detail are the fake's own "
     "words, so an error body's Content-Length differs. Clients act on status and code."),
    ("tag-order",
     "The unsorted tag list comes in insertion order from the fake and in directory "
     "order (filesystem-dependent) from distribution; compared as a set."),
    ("schema1-signatures",
     "schema1 converted on the way out is signed with each registry's own key, so the "
     "bytes differ in their signature block; compared: the signed payload."),
    ("unsatisfiable-range",
     "GET of a blob with a Range past its end: 2.8.2 announces the blob's length and "
     "sends Go's 33-byte 'invalid range: failed to overlap', so the client reads a "
     "broken response (a HEAD gets 416 as text/plain with the blob's length); the fake "
     "answers 416 with Content-Range: bytes */SIZE and a BLOB_UNKNOWN body."),
    ("upload-limit",
     "At most 256 upload sessions are open at once (--max-uploads); one more is 429 "
     "TOOMANYREQUESTS, where distribution opens sessions until its disk is full. A "
     "bound on what a test registry holds; no client keeps that many open."),
    ("colon-reference-500",
     "A manifest reference with a colon that is no valid digest (sha256:abc) makes 2.8.2 "
     "look it up as a tag path and answer 500 UNKNOWN; the fake never answers 500: "
     "404 MANIFEST_UNKNOWN for a read, 400 DIGEST_INVALID for a write."),
    ("short-body-session",
     "A PATCH or PUT whose body ends before its Content-Length: both answer 499 UNKNOWN. "
     "2.8.2 keeps the bytes it got on disk while the client's Location still says the "
     "old offset, so the next request on it is 404 BLOB_UPLOAD_INVALID and cancels the "
     "upload; the fake ends the session at once, so that request is 404 "
     "BLOB_UPLOAD_UNKNOWN. Either way nothing of the cut body is kept."),
)

PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        SPEC,
        Profile(
            name="distribution-2.8",
            quirk="Debian docker-registry 2.8.2 with schema1 enabled: unsorted tag list that "
                  "ignores n/last, catalog pages of 100 that ignore a bad n, Content-Range "
                  "of chunks ignored, monolithic POST opens a session, DELETE by tag "
                  "refused with DIGEST_INVALID, a repository without tags is NAME_UNKNOWN, "
                  "oversize manifests MANIFEST_INVALID, bad tags and names a plain 404, no "
                  "referrers API, OCI manifests only for clients that Accept them, schema2 "
                  "by tag converted to schema1 for clients that do not",
            tags_sorted=False,
            tags_paginate=False,
            catalog_pages="distribution",
            chunk_ranges_checked=False,
            monolithic_post=False,
            empty_tags_unknown=True,
            oversize_manifest_invalid=True,
            grammar_errors_not_found=True,
            delete_by_tag=False,
            referrers=False,
            negotiation="distribution",
            manifest_in_unknown_repository="MANIFEST_UNKNOWN",
            untyped_manifest="schema1",
            upload_survives_bad_digest=True,
            short_body="client-closed",
            differences=DISTRIBUTION_28_DIFFERENCES,
        ),
        Profile(
            name="distribution-v3",
            quirk="distribution v3: schema1 rejected, tag list sorted and paginated, "
                  "referrers API absent",
            schema1=False,
            referrers=False,
        ),
        Profile(
            name="ecr",
            quirk="Amazon ECR: mounts only blobs a manifest references, tag pages of at "
                  "most 1000, schema1 accepted",
            mount="referenced",
            tag_page_limit=1000,
        ),
        Profile(
            name="quay",
            quirk="older Quay: 400 on ?mount= without from, a repository without tags "
                  "answers 404 NAME_UNKNOWN, schema1 accepted",
            mount_without_from="invalid",
            empty_tags_unknown=True,
        ),
        Profile(
            name="harbor",
            quirk="Harbor: 401 when mounting from a repository that does not exist, "
                  "schema1 rejected",
            mount_unknown_from="unauthorized",
            schema1=False,
        ),
    )
}


def get_profile(profile: str | Profile) -> Profile:
    """Resolve a preset name; an unknown name is an error listing the known ones."""
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except KeyError:
        raise UnknownProfileError(
            f"unknown registry profile {profile!r}; known: {', '.join(PROFILES)}"
        ) from None


class UnknownProfileError(HarnessError, ValueError):
    """A profile name that is not a preset."""
