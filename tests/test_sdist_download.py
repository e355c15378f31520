"""The llama-cpp-python sdist is fetched straight from the index's JSON simple API, hash-checked."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deepprune.servers.local import _download_sdist_from_pypi

PAYLOAD = b"not really a tarball" * 1000


def _index(sha: str) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/simple/demo-pkg/":
                base = f"http://127.0.0.1:{self.server.server_address[1]}"
                body = json.dumps({"files": [
                    {"filename": "demo_pkg-1.0.tar.gz", "url": f"{base}/files/demo_pkg-1.0.tar.gz",
                     "hashes": {"sha256": sha}},
                    {"filename": "demo_pkg-1.0-py3-none-any.whl", "url": f"{base}/nope", "hashes": {}}]}).encode()
                ctype = "application/vnd.pypi.simple.v1+json"
            elif self.path == "/files/demo_pkg-1.0.tar.gz":
                body, ctype = PAYLOAD, "application/octet-stream"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/simple"
    finally:
        srv.shutdown()
        srv.server_close()


def test_sdist_is_downloaded_and_hash_checked(tmp_path: Path) -> None:
    for index in _index(hashlib.sha256(PAYLOAD).hexdigest()):
        out = _download_sdist_from_pypi("demo-pkg", "1.0", tmp_path, index=index)
    assert out.read_bytes() == PAYLOAD and out.name == "demo_pkg-1.0.tar.gz"
    assert not list(tmp_path.glob("*.part"))


def test_a_wrong_hash_leaves_no_file(tmp_path: Path) -> None:
    for index in _index("0" * 64):
        with pytest.raises(ValueError, match="sha256 mismatch"):
            _download_sdist_from_pypi("demo-pkg", "1.0", tmp_path, index=index)
    assert list(tmp_path.iterdir()) == []
