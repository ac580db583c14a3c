"""Transports: one ``Transport``/``ImageReference``/``ImageSource``/``ImageDestination``
abstraction (as in containers/image), implemented by ``docker://``, ``oci:``,
``oci-archive:``, ``dir:``, ``docker-archive:``, ``containers-storage:`` (buildah's and
podman's store) and ``harness-store:`` (the project's own).

Look one up with :func:`harness.transports.alltransports.parse_image_name`
(``"oci:/srv/layout:v1"`` -> an ``ImageReference``). Modules: ``types`` (the contract),
``alltransports`` (by name), ``docker`` (the registry client), ``oci``, ``oci_archive``,
``directory``, ``docker_archive``, ``containers_storage``, ``harness_store``; the shared
``blobfiles`` (blobs as files named by digest) and ``pathtransport`` (the path-transport
base: references and policy scopes); and ``inspect`` (skopeo inspect's view of an image
read through any of them).
"""
