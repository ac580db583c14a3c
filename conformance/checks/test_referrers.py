"""Referrers (OCI 1.1): subjects, OCI-Subject, the referrers list and its artifactType filter."""

from __future__ import annotations

from conformance import content
from conformance.content import Manifest
from conformance.expect import expect_header, expect_status, unsupported
from conformance.repo import Repo
from harness.model import mediatype

ARTIFACT_A = "application/vnd.conformance.a"
ARTIFACT_B = "application/vnd.conformance.b"


def _require_referrers(repo: Repo, subject: Manifest) -> None:
    response = repo.client.request("GET", repo.path("referrers", subject.digest))
    if response.status_code in {404, 405}:
        unsupported(f"no referrers API (GET referrers answered {response.status_code})")


def _push_referrer(repo: Repo, subject: Manifest, artifact_type: str) -> Manifest:
    return repo.push(content.oci_manifest(subject=subject, artifact_type=artifact_type))


def _listed(repo: Repo, subject: Manifest, **params: str) -> tuple[list[dict[str, object]], str]:
    response = repo.client.request("GET", repo.path("referrers", subject.digest), params=params)
    expect_status(response, 200)
    body = response.json()
    assert body.get("mediaType") == mediatype.OCI_INDEX, (
        f"referrers answered mediaType {body.get('mediaType')!r}, not an OCI index")
    return list(body.get("manifests") or []), response.headers.get("OCI-Filters-Applied", "")


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


def test_subject_missing_accepted(repo: Repo) -> None:
    """A manifest whose subject does not exist (yet) is accepted."""
    absent = content.oci_manifest()
    _require_referrers(repo, absent)
    referrer = content.oci_manifest(subject=absent, artifact_type=ARTIFACT_A)
    for blob in referrer.blobs:
        repo.push_blob(blob)
    expect_status(repo.put_manifest(referrer, referrer.digest), 201)


def test_referrers_list(repo: Repo) -> None:
    """GET referrers/<digest> lists each manifest whose subject it is, with artifactType."""
    subject = repo.push(content.oci_manifest())
    _require_referrers(repo, subject)
    pushed = {_push_referrer(repo, subject, t).digest: t for t in (ARTIFACT_A, ARTIFACT_B)}
    listed, _ = _listed(repo, subject)
    got = {str(d.get("digest")): d.get("artifactType") for d in listed}
    want = {str(d): t for d, t in pushed.items()}
    assert got == want, f"referrers {got}, expected {want}"


def test_referrers_unknown_subject(repo: Repo) -> None:
    """Referrers of a digest nothing refers to is 200 with an empty OCI index."""
    absent = content.oci_manifest()
    _require_referrers(repo, absent)
    listed, _ = _listed(repo, absent)
    assert listed == [], f"referrers of an unknown digest listed {listed}"


def test_referrers_filter(repo: Repo) -> None:
    """?artifactType= lists only matching referrers and answers OCI-Filters-Applied."""
    subject = repo.push(content.oci_manifest())
    _require_referrers(repo, subject)
    wanted = _push_referrer(repo, subject, ARTIFACT_A)
    _push_referrer(repo, subject, ARTIFACT_B)
    listed, applied = _listed(repo, subject, artifactType=ARTIFACT_A)
    if applied != "artifactType":
        assert {d.get("artifactType") for d in listed} >= {ARTIFACT_A}, (
            "unfiltered referrers must still list every referrer")
        unsupported("the registry does not filter by artifactType (no OCI-Filters-Applied)")
    assert [d.get("digest") for d in listed] == [str(wanted.digest)], (
        f"filtered referrers {listed}, expected only {wanted.digest}")
