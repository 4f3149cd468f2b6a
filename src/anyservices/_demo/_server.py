"""The demo's document source: a small HTTP server on a free loopback port."""

from __future__ import annotations

import json
import threading
from collections.abc import Generator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ._documents import DOCUMENTS, content_of

__all__ = ("document_server",)

_BY_ID = {document.id: document for document in DOCUMENTS}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so HttpService's pool is used

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts == ["health"]:
            self._send(200, b"ok", "text/plain")
        elif parts == ["documents"]:
            body = json.dumps([d.model_dump() for d in DOCUMENTS]).encode()
            self._send(200, body, "application/json")
        elif len(parts) == 3 and parts[0] == "documents" and parts[2] == "content":  # noqa: PLR2004
            document = _BY_ID.get(parts[1])
            if document is None:
                self._send(404, b"no such document", "text/plain")
            else:
                body = content_of(document.id, document.size)
                self._send(200, body, "application/octet-stream")
        else:
            self._send(404, b"not found", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 -- stdlib name
        del format, args  # the demo prints its own report


@contextmanager
def document_server() -> Generator[str]:
    """Serve the documents on 127.0.0.1 (a free port) in a thread; yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="demo-http", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
