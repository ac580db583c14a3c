"""Serve a registry over real HTTP(S) on loopback, for clients that are not Python.

werkzeug's threaded server handles keep-alive, streaming bodies and the chunked
transfer encoding Go clients use; the registry's WSGI app reads bodies as streams.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from fakeregistry.registry import Registry
from harness.util.tls import make_tls_files


class _QuietHandler(WSGIRequestHandler):
    """The transcript is the request log; keep stderr clean (clients that probe HTTPS
    first, like containers/image with tls-verify=false, would fill it with errors)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: object) -> None:
        pass


@dataclass(frozen=True)
class Server:
    """A running server: ``url`` for clients, ``host`` as ``127.0.0.1:PORT`` for image
    references, ``ca_file`` to trust when TLS is on."""

    url: str
    host: str
    ca_file: Path | None
    wsgi_server: BaseWSGIServer


@contextlib.contextmanager
def serve(registry: Registry, host: str = "127.0.0.1", port: int = 0,
          tls: bool = False) -> Iterator[Server]:
    """Run *registry* on a background thread for the duration of the block."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with contextlib.ExitStack() as stack:
        context: ssl.SSLContext | None = None
        ca_file: Path | None = None
        if tls:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="fakeregistry-tls-")))
            files = make_tls_files(directory, (host, "localhost"))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(files.cert_file, files.key_file)
            ca_file = files.ca_file
        server = make_server(host, port, registry.wsgi_app, threaded=True,
                             request_handler=_QuietHandler, ssl_context=context)
        server.daemon_threads = True  # type: ignore[attr-defined]
        address = f"{host}:{server.server_port}"
        thread = threading.Thread(target=server.serve_forever, name=f"fakeregistry {address}",
                                  daemon=True)
        thread.start()
        try:
            yield Server(f"{'https' if tls else 'http'}://{address}", address, ca_file, server)
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
