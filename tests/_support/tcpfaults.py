"""Network faults for tests against real registries: a loopback TCP proxy that breaks an
upload mid-body, the failure a registry client must survive and no fake can stage for a
real peer. Shared by the registry-client and copy-engine tests."""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    """A loopback TCP proxy that breaks the connection carrying the *nth* PATCH after
    *after* bytes of it, as a network failure mid-upload would."""

    def __init__(self, target: tuple[str, int], after: int, nth: int = 1) -> None:
        self._target = target
        self._after = after
        self._nth = nth
        self._patches = 0
        self._lock = threading.Lock()
        self.cuts = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            threading.Thread(target=self._upload, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    def _upload(self, client: socket.socket, upstream: socket.socket) -> None:
        budget: int | None = None
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if budget is None and b"PATCH /v2/" in data:
                    with self._lock:
                        self._patches += 1
                        if self._patches == self._nth:
                            budget = self._after + data.index(b"PATCH /v2/")
                if budget is not None:
                    upstream.sendall(data[:budget])
                    budget -= min(budget, len(data))
                    if budget == 0:
                        self.cuts += 1
                        break
                else:
                    upstream.sendall(data)
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
