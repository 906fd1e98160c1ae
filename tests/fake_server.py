"""The HTTP side of the suite's fakes of outside services: a threaded server on 127.0.0.1.

A fake subclasses :class:`FakeServer` and answers each request in
:meth:`FakeServer.handle` with a status, headers and a body; this module
serves it, each request on its own thread, as the real services answer
concurrent clients.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class FakeServer:
    """A server on 127.0.0.1 (a free port) whose answers :meth:`handle` makes."""

    content_type = "application/json; charset=utf-8"

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(
        self, method: str, target: str, headers: Any, raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: status, headers and body."""
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, extra, body = fake.handle(self.command, self.path, self.headers, raw)
                self.send_response(status)
                if not any(name.lower() == "content-type" for name in extra):
                    self.send_header("Content-Type", fake.content_type)
                for name, value in extra.items():
                    if value:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test output stays readable

        return Handler
