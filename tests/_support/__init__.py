"""Helpers shared by the project's own tests, imported by package path
(``from tests._support.tcpfaults import CuttingProxy``), never through ``sys.path`` tricks.

Images are built with the kit the project ships, the pytest plugin's
(:mod:`harness.pytest_plugin.trees` and :mod:`harness.pytest_plugin.images`); what is here
is only what no user of the plugin needs:

- ``dockerhelp``: the registry client's test constants, an upload fake, ``push_image``.
- ``fakeregistry_helpers``: a WSGI test client for the fake registry and its error codes.
- ``tcpfaults``: a TCP proxy that cuts a connection after N bytes.
- ``manifest_samples``: a small OCI image and its schema1 form (conversion tests), and
  ``history_spec``, that image's shape with real layers for the peers.
"""
