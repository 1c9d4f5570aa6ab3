"""A hostile or buggy API: every request is answered with an error whose body echoes the request line
and headers back, as some servers do. Whatever the client sent (an ``api_key`` query parameter, an
``Authorization`` header) thus comes back inside an error message the client may log or raise."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class EchoServer:
    def __init__(self, status: int) -> None:
        self.status = status
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _echo(self) -> None:
                outer.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode(errors="replace") if length else ""
                text = f"cannot serve {self.command} {self.path} headers={dict(self.headers.items())} body={body}"
                payload = json.dumps({"errorcode": self.server_status, "message": text, "category": "ECHO"}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("X-Echo", self.path)
                self.end_headers()
                self.wfile.write(payload)

            @property
            def server_status(self) -> int:
                return outer.status

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _echo

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
