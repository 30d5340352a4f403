"""A real Kannel for tests: bearerbox + fakesmsc (the handsets) + smsbox in a
tmp dir on free ports, plus a tiny HTTP receiver for ``dlr-url`` callbacks and
MO messages (``sms-service get-url``). Stopped by pid.

    def test_x(kannel):                 # fixture below; or start_kannel(tmp_path)
        kannel.sendsms_url, kannel.username, kannel.password
        kannel.dlr_url("msg-1")         # -> "http://127.0.0.1:P/dlr?id=msg-1&status=%d"
        kannel.wait_for_handset(lambda msgs: ..., timeout=10)
        kannel.receiver.wait_for(lambda reqs: ..., timeout=10)

Debian packages: kannel (bearerbox, smsbox), kannel-extras (fakesmsc).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests._require import require_executable

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
USERNAME = "tester"
PASSWORD = "foobar"
#: sendsms-user max-messages: long texts are split into at most this many parts.
MAX_MESSAGES = 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.3):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open in {timeout}s")


@dataclass
class Request:
    path: str
    query: dict[str, str]
    at: float


class Receiver:
    """HTTP server on 127.0.0.1 recording every GET (path + query)."""

    def __init__(self, reply: Callable[[Request], tuple[int, str]] | None = None):
        self.requests: list[Request] = []
        self._cond = threading.Condition()
        self._reply = reply or (lambda req: (200, ""))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                req = Request(parts.path, query, time.monotonic())
                with outer._cond:
                    outer.requests.append(req)
                    outer._cond.notify_all()
                status, body = outer._reply(req)
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_for(self, predicate: Callable[[list[Request]], bool], timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(list(self.requests)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


_GOT = re.compile(r"Got message (\d+): <(.*)>\s*$")


@dataclass
class KannelGateway:
    dir: Path
    admin_port: int
    smsbox_port: int
    smsc_port: int
    sendsms_port: int
    receiver: Receiver
    sender: str = "UBND"
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    username: str = USERNAME
    password: str = PASSWORD

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def dlr_url(self, message_id: str) -> str:
        return f"{self.receiver.base_url}/dlr?id={message_id}&status=%d"

    @property
    def fakesmsc_log(self) -> Path:
        return self.dir / "fakesmsc.log"

    def handset_messages(self) -> list[str]:
        """What fakesmsc received: the inside of each "Got message N: <...>"."""
        if not self.fakesmsc_log.exists():
            return []
        out = []
        for line in self.fakesmsc_log.read_text("utf-8", errors="replace").splitlines():
            m = _GOT.search(line)
            if m:
                out.append(m.group(2))
        return out

    def wait_for_handset(
        self, predicate: Callable[[list[str]], bool], timeout: float = 15.0
    ) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.handset_messages()):
                return True
            time.sleep(0.1)
        return predicate(self.handset_messages())

    def stop(self) -> None:
        for name in ("smsbox", "fakesmsc", "bearerbox"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.receiver.close()

    def logs(self) -> str:
        """The boxes' logs, for assertion messages."""
        out = []
        for name in ("bearerbox.log", "smsbox.log", "fakesmsc.log"):
            path = self.dir / name
            if path.exists():
                out.append(f"--- {name}\n" + path.read_text("utf-8", errors="replace")[-3000:])
        return "\n".join(out)


def kannel_conf(gw: KannelGateway) -> str:
    return f"""group = core
admin-port = {gw.admin_port}
admin-password = changeme
smsbox-port = {gw.smsbox_port}
box-deny-ip = "*.*.*.*"
box-allow-ip = "127.0.0.1"
admin-deny-ip = "*.*.*.*"
admin-allow-ip = "127.0.0.1"
log-file = "{gw.dir}/bearerbox.log"
log-level = 1

group = smsc
smsc = fake
smsc-id = FAKE
port = {gw.smsc_port}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {gw.smsbox_port}
sendsms-port = {gw.sendsms_port}
global-sender = 13013
log-file = "{gw.dir}/smsbox.log"
log-level = 1

group = sendsms-user
username = {gw.username}
password = {gw.password}
max-messages = {MAX_MESSAGES}
concatenation = true

group = sms-service
keyword = default
get-url = "{gw.receiver.base_url}/mo?from=%p&to=%P&text=%a"
max-messages = 0
omit-empty = true
"""


def _require_kannel() -> None:
    require_executable(BEARERBOX, "kannel")
    require_executable(SMSBOX, "kannel")
    require_executable(FAKESMSC, "kannel-extras")


def _wait_smsc_online(gw: KannelGateway, timeout: float = 15.0) -> None:
    import requests

    url = f"http://127.0.0.1:{gw.admin_port}/status.txt?password=changeme"
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        try:
            text = requests.get(url, timeout=2).text
            if re.search(r"FAKE.*online", text):
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError("fake SMSC not online:\n" + text + gw.logs())


def start_kannel(
    run_dir: Path, *, mo_messages: Sequence[str] = (), mo_interval: float = 1.0
) -> KannelGateway:
    """Start bearerbox, fakesmsc and smsbox. ``mo_messages`` are fakesmsc
    message specs ("sender receiver text words...") sent once each as MO."""
    _require_kannel()
    run_dir.mkdir(parents=True, exist_ok=True)
    gw = KannelGateway(run_dir, free_port(), free_port(), free_port(), free_port(), Receiver())
    conf = run_dir / "kannel.conf"
    conf.write_text(kannel_conf(gw), "utf-8")
    devnull = subprocess.DEVNULL
    try:
        gw.procs["bearerbox"] = subprocess.Popen(
            [BEARERBOX, str(conf)], cwd=run_dir, stdout=devnull, stderr=devnull
        )
        wait_port(gw.admin_port, proc=gw.procs["bearerbox"])
        wait_port(gw.smsc_port, proc=gw.procs["bearerbox"])
        log = open(gw.fakesmsc_log, "wb")  # noqa: SIM115 - closed by the process
        args = [
            FAKESMSC,
            "-H",
            "127.0.0.1",
            "-r",
            str(gw.smsc_port),
            "-i",
            str(mo_interval),
            "-m",
            str(len(mo_messages)),
            *(mo_messages or ["1 2 text x"]),
        ]
        gw.procs["fakesmsc"] = subprocess.Popen(args, cwd=run_dir, stdout=log, stderr=log)
        log.close()
        gw.procs["smsbox"] = subprocess.Popen(
            [SMSBOX, str(conf)], cwd=run_dir, stdout=devnull, stderr=devnull
        )
        wait_port(gw.sendsms_port, proc=gw.procs["smsbox"])
        _wait_smsc_online(gw)
    except BaseException:
        gw.stop()
        raise
    return gw


@pytest.fixture
def kannel(tmp_path: Path) -> Iterator[KannelGateway]:
    gw = start_kannel(tmp_path / "kannel")
    try:
        yield gw
    finally:
        gw.stop()


@dataclass(frozen=True)
class HandsetMessage:
    sender: str
    receiver: str
    kind: str  # "text" | "ucs-2" | "udh" ...
    text: str
    udh: bytes = b""


def decode_handset(line: str) -> HandsetMessage:
    """Decode one fakesmsc "Got message" payload: "<from> <to> <type> [udh] <data>",
    data URL-encoded (UCS-2 as UTF-16BE bytes, udh data likewise)."""
    from urllib.parse import unquote_to_bytes

    def raw(s: str) -> bytes:
        return unquote_to_bytes(s.replace("+", "%20"))

    parts = line.split(" ")
    sender, receiver, kind = parts[0], parts[1], parts[2]
    if kind == "udh":
        udh = raw(parts[3])
        coding, data = parts[4], raw(parts[5] if len(parts) > 5 else "")
        text = data.decode("utf-16-be") if coding == "data" else data.decode("utf-8", "replace")
        return HandsetMessage(sender, receiver, kind, text, udh)
    data = raw(" ".join(parts[3:]))
    if kind == "ucs-2":
        return HandsetMessage(sender, receiver, kind, data.decode("utf-16-be"))
    # GSM-7 text: fakesmsc prints it in the charset smsbox was given (UTF-8)
    return HandsetMessage(sender, receiver, kind, data.decode("utf-8", "replace"))


def reassemble(messages: list[HandsetMessage]) -> list[str]:
    """Whole texts: single messages as they are, concatenated parts joined by
    their UDH reference (IEI 0: ref, total, seq)."""
    out: list[str] = []
    groups: dict[tuple[str, int], dict[int, str]] = {}
    totals: dict[tuple[str, int], int] = {}
    for m in messages:
        if m.kind == "udh" and len(m.udh) >= 6 and m.udh[1] == 0:
            key = (m.receiver, m.udh[3])
            groups.setdefault(key, {})[m.udh[5]] = m.text
            totals[key] = m.udh[4]
        else:
            out.append(m.text)
    for key, parts in groups.items():
        if len(parts) == totals[key]:
            out.append("".join(parts[i] for i in sorted(parts)))
    return out
