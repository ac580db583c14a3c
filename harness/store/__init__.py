"""The local image store (the role containers/storage plays for buildah).

Public API (one concept per module):

- :mod:`harness.store.store`: :class:`~harness.store.store.Store` (``Store.open(root)``,
  ``Store.memory()``, ``store.root``): blobs (``put_blob``, ``open_blob``, ``read_blob``,
  ``put_bytes``), layers (``layer``, ``layer_chain``, ``open_layer_diff``), images (``images``,
  ``image``/``find_image`` by name, ID, ``sha256:ID`` or unique prefix, ``add_image``,
  ``add_names``, ``remove_names``, ``delete_image``), containers (``create_container``,
  ``container``, ``containers``, ``rootfs``, ``snapshot``, ``set_container_metadata``,
  ``delete_container``). Errors: ``StoreError``, ``ImageUnknownError``,
  ``ContainerUnknownError`` (all ``HarnessError``).
- :mod:`harness.store.records`: the ``Layer``, ``Image`` and ``Container`` dataclasses and
  ``layer_id(parent, blob)``, the one rule naming a layer (commit and transports share it).
- :mod:`harness.store.backend`: ``DiskBackend`` (layout, atomicity) and ``MemoryBackend``.
- :mod:`harness.store.lock`: the reentrant, cross-process writer lock.
- :mod:`harness.store.diff`: snapshots and the read-write layer's diff as a tar stream.
- :mod:`harness.store.apply`: applying a layer tar, refusing path traversal.
- :mod:`harness.store.check`: ``check(store) -> list[str]`` of problems, and
  ``stale_files(store, min_age_s)``: what interrupted writes left behind.
"""
