"""A threaded HTTP server that sleeps while idle: the emulators' listener.

``socketserver``'s ``serve_forever`` wakes every ``poll_interval`` to look for a shutdown request.
The emulators used 0.05 s so that stopping one is quick, which costs nothing for one server but
adds up in a process that hosts many: a test fleet of 1,000 Cloze emulators woke 20,000 times a
second, and that process used more CPU than the three workers it served. This loop waits on the
listening socket and on a wake-up socket that :meth:`QuietHTTPServer.shutdown` writes to, so it
wakes only for a connection or to stop, and stopping is immediate.
"""

from __future__ import annotations

import selectors
import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any


class QuietHTTPServer(ThreadingHTTPServer):
    """:class:`~http.server.ThreadingHTTPServer` with an idle loop that does not poll."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake_read, self._wake_write = socket.socketpair()
        self._quit = threading.Event()
        self._idle = threading.Event()  # set while no loop runs
        self._idle.set()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown`; ``poll_interval`` is accepted for compatibility and unused."""
        self._idle.clear()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.socket, selectors.EVENT_READ)
                selector.register(self._wake_read, selectors.EVENT_READ)
                while not self._quit.is_set():
                    ready = selector.select()
                    if self._quit.is_set():
                        break
                    if any(key.fileobj is self.socket for key, _ in ready):
                        self._take_connection()
                    self.service_actions()
        finally:
            self._idle.set()

    def _take_connection(self) -> None:
        """What socketserver does with a ready listener: accept, verify, hand to a thread."""
        try:
            request, client_address = self.get_request()
        except OSError:
            return
        if not self.verify_request(request, client_address):
            self.shutdown_request(request)
            return
        try:
            self.process_request(request, client_address)
        except Exception:  # noqa: BLE001 - as socketserver: report it, close that connection, serve on
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def shutdown(self) -> None:
        """Stop the loop and wait for it to end (at once: the wake-up socket ends its wait)."""
        self._quit.set()
        try:
            self._wake_write.send(b"\0")
        except OSError:
            pass  # closed already: the loop has ended
        self._idle.wait()

    def server_close(self) -> None:
        super().server_close()
        self._wake_read.close()
        self._wake_write.close()
