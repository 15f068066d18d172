"""A static HTTP server on loopback (port 0, a thread) serving a mirror folder, as the real hosts serve files."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass


@contextmanager
def serve_folder(root: Path) -> Iterator[str]:
    """Serve `root` on ``http://127.0.0.1:<port>`` while the context is open; yields the base URL. The paths
    served are ``<base>/<dataset>/<filename>``, what ``DISTILDOC_MIRROR=<base>`` fetches."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
