"""``Builder``: a working container plus the image settings it will be committed with.

As in buildah, a builder is created from scratch or from an image, remembers its state
in the store (the container's metadata), and is committed into a new image::

    builder = Builder.new(store, "scratch")
    (builder.rootfs / "hello").write_text("hi")
    builder.set_field("Cmd", ["/hello"])
    builder.save()
    result = builder.commit("localhost/hello:latest", CommitOptions())

The image's configs are kept as an OCI and a Docker config side by side
(:class:`~harness.builder.imageconfig.ImageConfigs`); ``created_by`` and manifest
annotations are builder state too, used at commit.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from harness.builder.commit import CommitOptions, CommitResult, commit
from harness.builder.copyin import copy_in
from harness.builder.imageconfig import ImageConfigs
from harness.builder.names import base_name, find_image, resolve_image
from harness.builder.pull import pull
from harness.model.descriptor import host_architecture
from harness.model.manifest import parse_manifest
from harness.model.reference import Reference
from harness.model.transportref import has_transport_prefix
from harness.store.records import Image
from harness.store.store import Store
from harness.transports.types import ImageReference, SystemContext
from harness.util.errors import HarnessError

SCRATCH = "scratch"
def _container_name(store: Store, base: Image | None) -> str:
    """buildah's default: ``<image basename>-working-container``, numbered if taken."""
    prefix = "working-container"
    if base is not None and base.names:
        repository = Reference.parse(base.names[0]).path.rsplit("/", 1)[-1]
        prefix = f"{repository}-{prefix}"
    taken = store.container_names()
    name, number = prefix, 1
    while name in taken:
        name, number = f"{prefix}-{number}", number + 1
    return name


def _image_configs(store: Store, image: Image) -> ImageConfigs:
    manifest = parse_manifest(store.read_blob(image.digest), image.manifest_type)
    if manifest.config is None:
        raise HarnessError(f"image {image.id} has no config")
    return ImageConfigs.from_image_config(store.read_blob(manifest.config.digest),
                                          manifest.config.media_type)


@dataclass
class Builder:
    """State of one working container (saved as JSON in the container's metadata)."""

    store: Store
    container_id: str
    container_name: str
    from_image: str  # the base image's name as stored (buildah's FromImage), or scratch
    from_image_id: str | None
    from_digest: str
    configs: ImageConfigs
    annotations: dict[str, str] = field(default_factory=dict)
    created_by: str = ""

    @classmethod
    def new(cls, store: Store, image: str, name: str | None = None, *,
            architecture: str | None = None, os_name: str = "linux",
            ctx: SystemContext | None = None, signature_policy_path: Path | None = None,
            report_writer: TextIO | None = None, container_id: str | None = None) -> Builder:
        """A working container over *image* (``scratch`` for none); an image named by a
        transport reference that is not in the store yet is pulled first. *container_id*
        gives the container that ID (see :meth:`Store.create_container`)."""
        base = None
        if image != SCRATCH:
            base = find_image(store, image)
            if base is None and has_transport_prefix(image):
                base = pull(store, image, ctx, signature_policy_path, report_writer)
            elif base is None:
                base = resolve_image(store, image)
        if base is None:
            configs = ImageConfigs.scratch(architecture or host_architecture(), os_name)
        else:
            configs = _image_configs(store, base)
        container = store.create_container(base.id if base else None,
                                           name or _container_name(store, base),
                                           container_id=container_id)
        builder = cls(store, container.id, container.name,
                      image if base is None else base_name(image, base),
                      base.id if base else None, base.manifest_digest if base else "",
                      configs)
        builder.save()
        return builder

    @classmethod
    def load(cls, store: Store, ref: str) -> Builder:
        """The builder of container *ref* (name or ID)."""
        container = store.container(ref)
        try:
            state = json.loads(container.metadata)
        except ValueError:
            raise HarnessError(f"container {ref!r} was not created by a builder") from None
        return cls(store, container.id, container.name, state["from_image"],
                   container.image_id, state["from_digest"],
                   ImageConfigs.from_json(state["configs"]), state["annotations"],
                   state["created_by"])

    def save(self) -> None:
        state = {"from_image": self.from_image, "from_digest": self.from_digest,
                 "configs": self.configs.to_json(), "annotations": self.annotations,
                 "created_by": self.created_by}
        self.store.set_container_metadata(self.container_id, json.dumps(state))

    @property
    def rootfs(self) -> Path:
        """The read-write directory (what ``mount`` prints)."""
        return self.store.rootfs(self.container_id)

    # -- settings -------------------------------------------------------------------

    def set_field(self, name: str, value: object) -> None:
        """Cmd, Entrypoint, User, WorkingDir, StopSignal... in both configs."""
        self.configs.set_field(name, value)

    def set_env(self, name: str, value: str) -> None:
        self.configs.set_env(name, value)

    def set_label(self, key: str, value: str) -> None:
        self.configs.set_map_entry("Labels", key, value)

    def add_exposed_port(self, port: str) -> None:
        self.configs.set_map_entry("ExposedPorts", port, {})  # as typed, as buildah 1.28

    def add_volume(self, path: str) -> None:
        self.configs.set_map_entry("Volumes", path, {})

    def set_annotation(self, key: str, value: str) -> None:
        """A manifest annotation (OCI format only, as in buildah)."""
        self.annotations[key] = value

    def set_author(self, author: str) -> None:
        self.configs.set_author(author)

    def set_platform(self, architecture: str | None = None, os_name: str | None = None
                     ) -> None:
        self.configs.set_platform(architecture, os_name)

    # -- content --------------------------------------------------------------------

    def add(self, sources: list[Path], dest: str) -> None:
        """Copy files or directory contents into the container at *dest*, as ``buildah
        add`` does (see :func:`harness.builder.copyin.copy_in`), never outside the rootfs
        even through symlinks."""
        workdir = self.configs.get_field("WorkingDir") or ""
        as_dir = dest.endswith("/")
        if not dest.startswith("/"):  # as buildah: relative to the working directory
            dest = posixpath.normpath(posixpath.join("/", workdir, dest))
        if workdir and dest == workdir:  # buildah: the working directory is a directory
            as_dir = True
        copy_in(self.rootfs, sources, dest + "/" if as_dir else dest)

    # -- commit ---------------------------------------------------------------------

    def commit(self, dest: str | ImageReference | None,
               options: CommitOptions | None = None) -> CommitResult:
        """Write the container as a new image (see :func:`harness.builder.commit.commit`)."""
        return commit(self, dest, options or CommitOptions())
