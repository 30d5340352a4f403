"""Fakes of remote services: real HTTP servers on 127.0.0.1, one thread each.

``FakeServer`` does the plumbing (a ``ThreadingHTTPServer`` on a free port,
request recording, JSON/form/multipart parsing, replies, and the two socket
faults a JSON stub cannot express: dropping the connection before reading the
request, and reading it then never answering). Subclasses implement
``handle(request) -> Reply``.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class UploadedFile:
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Received:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    content_type: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def params(self) -> dict[str, Any]:
        """Query, form and JSON-object parameters merged (body wins)."""
        out: dict[str, Any] = dict(self.query)
        out.update(self.form)
        if isinstance(self.json, dict):
            out.update(self.json)
        return out


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes as is
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # read the request, then never answer
    drop: bool = False  # close the connection without any answer

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        if self.body is None:
            return b"", "text/plain"
        return json.dumps(self.body, ensure_ascii=False).encode(), "application/json; charset=UTF-8"


def parse_multipart(
    content_type: str, body: bytes
) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = BytesParser(policy=HTTP).parsebytes(head + body)
    form: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    if not msg.is_multipart():
        return form, files
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[str(name)] = UploadedFile(filename, part.get_content_type(), data)
        else:
            form[str(name)] = data.decode("utf-8")
    return form, files


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _any(self) -> None:
        self.server.fake._dispatch(self)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    fake: FakeServer


class FakeServer:
    """A fake remote service. Use as a context manager or call start()/stop()."""

    hang_seconds = 30.0

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.lock = threading.RLock()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- hooks for subclasses -----------------------------------------------------------

    def before_read(self, handler: BaseHTTPRequestHandler) -> str | None:
        """Return "drop" to close the connection before reading the request."""
        return None

    def handle(self, request: Received) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- plumbing ------------------------------------------------------------------------

    def _dispatch(self, h: _Handler) -> None:
        if self.before_read(h) == "drop":
            self._drop(h)
            return
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        split = urlsplit(h.path)
        headers = {k.lower(): v for k, v in h.headers.items()}
        ctype = headers.get("content-type", "")
        req = Received(
            method=h.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers=headers,
            body=body,
            content_type=ctype.split(";", 1)[0].strip().lower(),
        )
        try:
            if req.content_type == "application/json" and body:
                req.json = json.loads(body)
            elif req.content_type == "application/x-www-form-urlencoded":
                req.form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            elif req.content_type == "multipart/form-data":
                req.form, req.files = parse_multipart(ctype, body)
        except (ValueError, UnicodeDecodeError):
            req.json = None  # the handler sees a body it cannot parse
        with self.lock:
            self.requests.append(req)
        try:
            reply = self.handle(req)
        except Exception as exc:  # a bug in the fake: answer 599 so tests notice
            reply = Reply(599, {"fake_error": f"{type(exc).__name__}: {exc}"})
        if reply.hang:
            self._stopping.wait(self.hang_seconds)
            self._drop(h)
            return
        if reply.drop:
            self._drop(h)
            return
        data, default_type = reply.encode()
        h.send_response(reply.status)
        sent = {k.lower() for k in reply.headers}
        if "content-type" not in sent:
            h.send_header("Content-Type", default_type)
        for k, v in reply.headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data and h.command != "HEAD":
            h.wfile.write(data)

    @staticmethod
    def _drop(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- test helpers --------------------------------------------------------------------

    def received(self, path_suffix: str | None = None, method: str | None = None) -> list[Received]:
        with self.lock:
            reqs = list(self.requests)
        return [
            r
            for r in reqs
            if (path_suffix is None or r.path.endswith(path_suffix))
            and (method is None or r.method == method)
        ]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
