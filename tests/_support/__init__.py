"""Helpers shared by the project's own tests, imported by package path
(``from tests._support.imagekit import write_image``), never through ``sys.path`` tricks.

- ``imagekit``: small real images written through any ImageDestination (copy tests).
- ``model_layout``: a tiny real OCI layout that skopeo and umoci read (model tests).
- ``dockerhelp``: the registry client's test constants, an upload fake, ``push_image``.
- ``fakeregistry_helpers``: a WSGI test client for the fake registry and its error codes.
- ``tcpfaults``: a TCP proxy that cuts a connection after N bytes.
- ``manifest_samples``: a small OCI image and its schema1 form (conversion tests).

The kit the project ships for its users is :mod:`harness.pytest_plugin`.
"""
