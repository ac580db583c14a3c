"""Media types of manifests, configs and layers (OCI image-spec, Docker schema2/schema1)."""

from __future__ import annotations

from typing import Final

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDISTRIBUTABLE: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP: Final = (
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
)
OCI_EMPTY: Final = "application/vnd.oci.empty.v1+json"

DOCKER_V2S2_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER: Final = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_FOREIGN_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

DOCKER_V2S1_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_V2S1_SIGNED_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v1+prettyjws"

SINGLE_MANIFESTS: Final = frozenset(
    {OCI_MANIFEST, DOCKER_V2S2_MANIFEST, DOCKER_V2S1_MANIFEST, DOCKER_V2S1_SIGNED_MANIFEST}
)
INDEXES: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
SCHEMA1: Final = frozenset({DOCKER_V2S1_MANIFEST, DOCKER_V2S1_SIGNED_MANIFEST})
ALL_MANIFESTS: Final = SINGLE_MANIFESTS | INDEXES

# The short names the CLIs take (buildah/skopeo --format spellings).
FORMAT_NAMES: Final = {
    "oci": OCI_MANIFEST,
    "v2s2": DOCKER_V2S2_MANIFEST,
    "docker": DOCKER_V2S2_MANIFEST,
    "v2s1": DOCKER_V2S1_SIGNED_MANIFEST,
}
