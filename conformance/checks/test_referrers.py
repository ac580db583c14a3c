"""Referrers (OCI 1.1): subjects, OCI-Subject, the referrers list and its artifactType filter."""

from __future__ import annotations

from conformance import content
from conformance.content import Manifest
from conformance.expect import expect_header, expect_status, missed_should, unsupported
from conformance.repo import Repo
from conformance.rules import may, must
from harness.model import mediatype

_SUBJECT = "Pushing Manifests with Subject"
_LISTING = "Listing Referrers"
_API = ("A registry that supports the referrers API answers GET /v2/<name>/referrers/<digest> "
        "with 200 and an image index; one without it answers 404 (\"the registry MUST NOT "
        "return a 404 Not Found to a referrers API request\" if it supports the API).")

ARTIFACT_A = "application/vnd.conformance.a"
ARTIFACT_B = "application/vnd.conformance.b"


def _has_referrers(repo: Repo, subject: Manifest) -> int | None:
    """None when the referrers API answers, else the status that says it is absent."""
    response = repo.client.request("GET", repo.path("referrers", subject.digest))
    return response.status_code if response.status_code in {404, 405} else None


def _require_referrers(repo: Repo, subject: Manifest) -> None:
    absent = _has_referrers(repo, subject)
    if absent is not None:
        unsupported(f"no referrers API (GET referrers answered {absent})")


def _push_referrer(repo: Repo, subject: Manifest, artifact_type: str) -> Manifest:
    return repo.push(content.oci_manifest(subject=subject, artifact_type=artifact_type))


def _listed(repo: Repo, subject: Manifest, **params: str) -> tuple[list[dict[str, object]], str]:
    response = repo.client.request("GET", repo.path("referrers", subject.digest), params=params)
    expect_status(response, 200)
    body = response.json()
    assert body.get("mediaType") == mediatype.OCI_INDEX, (
        f"referrers answered mediaType {body.get('mediaType')!r}, not an OCI index")
    return list(body.get("manifests") or []), response.headers.get("OCI-Filters-Applied", "")


@must(_SUBJECT, "When processing a request for an image manifest with the subject field, "
      "a registry implementation that supports the referrers API MUST respond with the "
      "response header OCI-Subject: <subject digest>.")
def test_subject_header(repo: Repo) -> None:
    """PUT of a manifest with a subject answers OCI-Subject naming the subject's digest."""
    subject = repo.push(content.oci_manifest())
    _require_referrers(repo, subject)
    referrer = content.oci_manifest(subject=subject, artifact_type=ARTIFACT_A)
    for blob in referrer.blobs:
        repo.push_blob(blob)
    response = repo.put_manifest(referrer, referrer.digest)
    expect_status(response, 201)
    assert expect_header(response, "OCI-Subject") == str(subject.digest), (
        f"OCI-Subject {response.headers['OCI-Subject']!r}, subject is {subject.digest}")


@must(_SUBJECT, "When processing a request for an image manifest with the subject field, a "
      "registry implementation that supports the referrers API MUST respond with the response "
      "header OCI-Subject; the header tells clients the referrers API is there (they skip the "
      "referrers tag schema), so a registry without the API must not send it.")
def test_subject_header_only_with_referrers(repo: Repo) -> None:
    """A registry without the referrers API does not answer OCI-Subject to a manifest PUT."""
    subject = repo.push(content.oci_manifest())
    referrer = content.oci_manifest(subject=subject, artifact_type=ARTIFACT_A)
    for blob in referrer.blobs:
        repo.push_blob(blob)
    response = repo.put_manifest(referrer, referrer.digest)
    expect_status(response, 201)
    absent = _has_referrers(repo, subject)
    sent = response.headers.get("OCI-Subject")
    assert absent is None or sent is None, (
        f"OCI-Subject {sent!r} sent, but GET referrers answers {absent}: clients will not "
        "push the referrers tag schema and the referrer is lost to them")


@must(_SUBJECT, "A registry MUST accept an otherwise valid manifest with a subject field that "
      "references a manifest that does not exist in the repository, allowing clients to push "
      "a manifest and referrers to that manifest in either order.")
def test_subject_missing_accepted(repo: Repo) -> None:
    """A manifest whose subject does not exist (yet) is accepted, with or without referrers."""
    absent = content.oci_manifest()
    referrer = content.oci_manifest(subject=absent, artifact_type=ARTIFACT_A)
    for blob in referrer.blobs:
        repo.push_blob(blob)
    expect_status(repo.put_manifest(referrer, referrer.digest), 201)


@may(_LISTING, _API + " The index lists every manifest whose subject is <digest>, with its "
     "artifactType.")
def test_referrers_list(repo: Repo) -> None:
    """GET referrers/<digest> lists each manifest whose subject it is, with artifactType."""
    subject = repo.push(content.oci_manifest())
    _require_referrers(repo, subject)
    pushed = {_push_referrer(repo, subject, t).digest: t for t in (ARTIFACT_A, ARTIFACT_B)}
    listed, _ = _listed(repo, subject)
    got = {str(d.get("digest")): d.get("artifactType") for d in listed}
    want = {str(d): t for d, t in pushed.items()}
    assert got == want, f"referrers {got}, expected {want}"


@may(_LISTING, _API + " A digest nothing refers to gives 200 and an empty index.")
def test_referrers_unknown_subject(repo: Repo) -> None:
    """Referrers of a digest nothing refers to is 200 with an empty OCI index."""
    absent = content.oci_manifest()
    _require_referrers(repo, absent)
    listed, _ = _listed(repo, absent)
    assert listed == [], f"referrers of an unknown digest listed {listed}"


@must(_LISTING, "The registry SHOULD support filtering on artifactType. If filtering is "
      "requested and applied, the response MUST include a header OCI-Filters-Applied: "
      "artifactType (and list only matching referrers).")
def test_referrers_filter(repo: Repo) -> None:
    """?artifactType= lists only matching referrers and answers OCI-Filters-Applied."""
    subject = repo.push(content.oci_manifest())
    _require_referrers(repo, subject)
    wanted = _push_referrer(repo, subject, ARTIFACT_A)
    _push_referrer(repo, subject, ARTIFACT_B)
    listed, applied = _listed(repo, subject, artifactType=ARTIFACT_A)
    if applied != "artifactType":
        assert {d.get("artifactType") for d in listed} >= {ARTIFACT_A, ARTIFACT_B}, (
            f"without OCI-Filters-Applied the list must be unfiltered; it lists {listed}")
        missed_should("the registry does not filter by artifactType (no OCI-Filters-Applied)")
    assert [d.get("digest") for d in listed] == [str(wanted.digest)], (
        f"filtered referrers {listed}, expected only {wanted.digest}")
