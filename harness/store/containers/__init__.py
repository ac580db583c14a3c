"""The on-disk format of containers/storage, as buildah, podman and skopeo use it.

Not the project's own store (:mod:`harness.store.store`, the ``harness-store:`` transport):
this package reads and writes the stores those tools keep (``/var/lib/containers/storage``
or any ``--root``), with their lock files, so they see what this project writes and the
other way round.

- :mod:`.conf`: which store (``storage.conf`` resolution and the reference's
  ``[driver@root+runroot:options]``);
- :mod:`.lockfile`: the lock files, taken as containers/storage takes them;
- :mod:`.tarsplit`: the tar-split metadata that lets a layer be read back byte for byte;
- :mod:`.drivers`: where the vfs and overlay drivers keep a layer's files;
- :mod:`.store`: images, layers and big data under those locks.
"""
