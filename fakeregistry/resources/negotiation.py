"""Which form of a stored manifest a GET is answered with, from its ``Accept`` header.

``spec``: the stored type if the client accepts it (or accepts anything). Profiles with
``negotiation="distribution"`` follow distribution 2.x: OCI types only for clients that
name them; by tag, a Docker list becomes its linux/amd64 image for a client that does
not accept lists, and schema2 becomes signed schema1 for one that does not accept schema2.
"""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.wrappers import Request

from fakeregistry.backend import Backend
from fakeregistry.errors import RegistryError
from fakeregistry.inspection import OCI_TYPES
from harness.model import gojson, mediatype, schema1
from harness.model.digest import Digest
from harness.model.manifest import manifest_digest, parse_manifest
from harness.util.errors import HarnessError


@dataclass(frozen=True)
class Served:
    """The manifest as it goes out: its type, bytes and digest."""

    media_type: str
    data: bytes
    digest: Digest


def accepted_types(request: Request) -> set[str]:
    return {item.split(";")[0].strip() for value in request.headers.getlist("Accept")
            for item in value.split(",") if item.strip()}


class Negotiator:
    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def serve(self, request: Request, name: str, reference: str, stored: Served) -> Served:
        """*stored* in the form the client's ``Accept`` asks for; MANIFEST_UNKNOWN if none."""
        accepted = accepted_types(request)
        by_tag = ":" not in reference
        served = stored
        if self._rewrites_list(served.media_type, accepted, by_tag):
            served = self._default_child(name, served.data)
        if self._wants_schema1(served.media_type, accepted, by_tag):
            media_type, data = self._as_schema1(name, reference, served.data)
            return Served(media_type, data, manifest_digest(data))
        if not self._acceptable(served.media_type, accepted):
            raise RegistryError(
                "MANIFEST_UNKNOWN", f"manifest of type {served.media_type} not in the Accept "
                "header", detail={"accepted": sorted(accepted)})
        return served

    def _acceptable(self, media_type: str, accepted: set[str]) -> bool:
        if media_type in accepted:
            return True
        if self._backend.profile.negotiation == "distribution":
            return media_type not in OCI_TYPES
        return not accepted or "*/*" in accepted

    def _rewrites_list(self, media_type: str, accepted: set[str], by_tag: bool) -> bool:
        return (self._backend.profile.negotiation == "distribution" and by_tag
                and media_type == mediatype.DOCKER_MANIFEST_LIST and media_type not in accepted)

    def _wants_schema1(self, media_type: str, accepted: set[str], by_tag: bool) -> bool:
        profile = self._backend.profile
        return (profile.negotiation == "distribution" and profile.schema1 and by_tag
                and media_type == mediatype.DOCKER_V2S2_MANIFEST and media_type not in accepted)

    def _default_child(self, name: str, data: bytes) -> Served:
        """The linux/amd64 entry of a stored (so valid) manifest list."""
        backend = self._backend
        for entry in parse_manifest(data, mediatype.DOCKER_MANIFEST_LIST).manifests:
            if entry.platform is not None and (
                    entry.platform.os, entry.platform.architecture) == ("linux", "amd64"):
                with backend.state.lock:
                    child = backend.repository(name).manifests.get(entry.digest)
                if child is None:
                    break
                return Served(child.media_type, backend.blobs.read(entry.digest), entry.digest)
        raise RegistryError("MANIFEST_UNKNOWN", "the list has no linux/amd64 image")

    def _as_schema1(self, name: str, tag: str, data: bytes) -> tuple[str, bytes]:
        """The schema2 manifest *data* converted to signed schema1 (a fresh key each time,
        as each registry signs with its own); blobs the conversion adds are linked."""
        backend = self._backend
        image = parse_manifest(data, mediatype.DOCKER_V2S2_MANIFEST)
        assert image.config is not None  # validated when it was pushed
        # The config is read whole, so it gets the manifests' cap: any blob can be named.
        if (backend.blobs.size(image.config.digest) or 0) > backend.profile.manifest_size_limit:
            raise RegistryError("MANIFEST_INVALID", f"config {image.config.digest} is too "
                                "large to serve the manifest as schema1")
        config = backend.blobs.read(image.config.digest)
        # Loaded here: few registries ever serve schema1, and the conversion loads the
        # whole image model (compression included) that the fake does not otherwise need.
        from harness.model.convert import convert_manifest  # noqa: PLC0415

        try:
            conversion = convert_manifest(data, mediatype.DOCKER_V2S2_MANIFEST,
                                          mediatype.DOCKER_V2S1_SIGNED_MANIFEST,
                                          config=config, name=name, tag=tag)
        except HarnessError as exc:  # e.g. a config blob that is not an image config
            raise RegistryError("MANIFEST_INVALID",
                                f"manifest cannot be served as schema1: {exc}") from None
        with backend.state.lock:
            for descriptor, blob in conversion.extra_blobs:
                backend.blobs.put_bytes(descriptor.digest, blob)
                backend.state.ensure(name).blobs.add(descriptor.digest)
            backend.state.save()
        return conversion.media_type, _as_distribution_writes_it(conversion.manifest)


def _as_distribution_writes_it(signed: bytes) -> bytes:
    """Signed schema1 in distribution's own bytes: its manifest struct's field order
    (schemaVersion first) written by Go's ``json.MarshalIndent`` with three spaces, as
    its schema1 ``Sign`` does, then signed."""
    fields = schema1.load_payload(schema1.payload(signed))
    ordered = {"schemaVersion": 1, **{key: fields[key] for key in (
        "name", "tag", "architecture", "fsLayers", "history")}}
    return schema1.sign(gojson.dumps_indent(ordered, "   "))
