"""Bring an image named by a transport reference into the local store, as buildah pulls
before ``from``: a full copy through the copy engine into ``harness-store:``.

The stored name is the image's docker reference when it has one (``docker://``); for an
``oci:`` layout, as buildah names it, its path under ``localhost/`` without the tag
(``oci:/srv/app-layout:v1`` -> ``localhost/srv/app-layout:latest``); else a local name made
from the reference's last path component, so the image can be found again by ``images``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TextIO

from harness.builder.names import LOCAL_DOMAIN, local_name
from harness.model.reference import Reference
from harness.store.records import Image
from harness.store.store import Store
from harness.transports import harness_store
from harness.transports.types import ImageReference, SystemContext
from harness.util.errors import HarnessError


def _stored_name(src: ImageReference) -> str:
    named = src.docker_reference()
    if isinstance(named, Reference):
        return str(named if named.tag or named.digest else named.with_tag("latest"))
    location = src.string_within_transport().split(":", 1)[0].rstrip("/")
    if src.transport.name == "oci":
        # As buildah (libimage): the layout's path under localhost/, the tag dropped.
        try:
            return local_name(f"{LOCAL_DOMAIN}/{location.lstrip('/')}")
        except ValueError:
            pass  # a path no reference can spell: the slug below
    slug = re.sub(r"[^a-z0-9]+", "-", Path(location).name.lower()).strip("-")
    return local_name(slug or "image")


def pull(store: Store, text: str, ctx: SystemContext | None = None,
         signature_policy_path: Path | None = None, report_writer: TextIO | None = None
         ) -> Image:
    """Copy the image *text* names into *store* and return its record."""
    # Imported here: the copy engine and every transport (requests for docker://) cost
    # ~0.2 s, which only a pull needs, not the local commands that import this module.
    from harness.copy.engine import CopyOptions, copy_image  # noqa: PLC0415
    from harness.transports.alltransports import parse_image_name  # noqa: PLC0415

    if store.root is None:
        raise HarnessError("pulling an image needs a store on disk")
    src = parse_image_name(text)
    name = _stored_name(src)
    dest = harness_store.TRANSPORT.parse_reference(f"[{store.root}]{name}")
    copy_image(dest, src, CopyOptions(source_ctx=ctx or SystemContext(),
                                      report_writer=report_writer,
                                      signature_policy_path=signature_policy_path))
    return store.image(name)
