"""Network faults for tests against real registries: a loopback TCP proxy that breaks an
upload mid-body, the failure a registry client must survive and no fake can stage for a
real peer. Shared by the registry-client and copy-engine tests."""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttingProxy:
    """A loopback TCP proxy that breaks the connection carrying the *nth* PATCH after
    *after* bytes of it, as a network failure mid-upload would.

    *late* stages a busy registry: it reads the cut request only once the client has
    asked what the session holds and sends its next PATCH (that PATCH is held until the
    registry is done with the cut one), so the status the client got was stale.
    """

    def __init__(self, target: tuple[str, int], after: int, nth: int = 1,
                 late: bool = False) -> None:
        self._target = target
        self._after = after
        self._nth = nth
        self._late = late
        self._patches = 0
        self._lock = threading.Lock()
        self._next_patch = threading.Event()  # late: the client sent a PATCH after the cut
        self._drained = threading.Event()  # late: the registry is done with the cut PATCH
        self.cuts = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._server.close()
        self._next_patch.set()  # late: a held request no client asked past is let go

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            answered = threading.Event()
            threading.Thread(target=self._upload, args=(client, upstream, answered),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, answered),
                             daemon=True).start()

    def _upload(self, client: socket.socket, upstream: socket.socket,
                answered: threading.Event) -> None:
        budget: int | None = None
        held: list[bytes] = []  # late: the cut request, not yet given to the registry
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if budget is None and b"PATCH /v2/" in data:
                    with self._lock:
                        self._patches += 1
                        if self._patches == self._nth:
                            budget = self._after + data.index(b"PATCH /v2/")
                        elif self._late and self.cuts:
                            self._next_patch.set()
                    if self._late and self.cuts:
                        self._drained.wait(60)
                if budget is not None:
                    (held.append if self._late else upstream.sendall)(data[:budget])
                    budget -= min(budget, len(data))
                    if budget == 0:
                        self.cuts += 1
                        break
                else:
                    upstream.sendall(data)
        if held:
            self._deliver_late(client, upstream, held, answered)
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _deliver_late(self, client: socket.socket, upstream: socket.socket,
                      held: list[bytes], answered: threading.Event) -> None:
        """Break the client's side now; give the registry the cut request after the
        client's next PATCH, and let that PATCH through once the registry answered."""
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)
        self._next_patch.wait(60)
        with contextlib.suppress(OSError):
            upstream.sendall(b"".join(held))
            upstream.shutdown(socket.SHUT_WR)
        answered.wait(60)
        self._drained.set()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, answered: threading.Event) -> None:
        """Copy until *source* ends (even once *sink* is gone), then set *answered*."""
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                with contextlib.suppress(OSError):
                    sink.sendall(data)
        answered.set()
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
