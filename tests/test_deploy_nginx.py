"""Production behind nginx with TLS (docs/deploy.md), tested with Debian's nginx.

The site file is rendered from the shipped template (deploy/nginx/lantoa.conf.in,
by deploy/render_nginx.py) and included in a test-only main config (own prefix,
pid, logs and temp folders in tmp; ``daemon off``). nginx listens on 127.0.0.1 on
free high ports with a self-signed certificate made here, in front of the app
served by waitress with ``LANTOA_BEHIND_PROXY=1``. nginx talks to the app from
127.0.0.2 (``proxy_bind``), so the address the app sees tells the client's
(forwarded) address apart from the proxy's.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import ipaddress
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests._require import missing, require_executable
from tests.helpers import PASSWORD, make_user, token_for

ROOT = Path(__file__).resolve().parent.parent
LOGIN_LIMIT = 5
SMS_LIMIT_MB = 25


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"nginx exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.3):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    return cert_path, key_path


def _renderer():
    spec = importlib.util.spec_from_file_location("render_nginx", ROOT / "deploy" / "render_nginx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _FromAddress(HTTPAdapter):
    """Connect from another loopback address (127.0.0.0/8 is all local on Linux)."""

    def __init__(self, source: str):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def _client(cert: Path, source: str | None = None) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # else REQUESTS_CA_BUNDLE (and proxy variables) win over s.verify
    s.verify = str(cert)
    if source:
        s.mount("https://", _FromAddress(source))
        s.mount("http://", _FromAddress(source))
    return s


@pytest.fixture
def site(tmp_path):
    nginx = require_executable("/usr/sbin/nginx", "nginx-light")
    if os.path.exists("/etc/nginx") and not os.path.exists("/etc/nginx/mime.types"):
        missing("/etc/nginx/mime.types not found: install the Debian package 'nginx-common'")
    from flask import jsonify, request, url_for
    from flask_limiter.util import get_remote_address
    from waitress import create_server

    from tests.conftest import make_app

    app = make_app(
        f"sqlite:///{tmp_path / 'site.db'}", tmp_path,
        LANTOA_BEHIND_PROXY="1",
        LANTOA_LOGIN_RATE_LIMIT=f"{LOGIN_LIMIT} per minute",
        LANTOA_SMS_MAX_UPLOAD_MB=str(SMS_LIMIT_MB),
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
    )

    def peer():  # test-only: what the app (and its login limiter) takes the client to be
        orig = request.environ.get("werkzeug.proxy_fix.orig", {})
        return jsonify(remote_addr=request.remote_addr, limiter_key=get_remote_address(),
                       proxy_addr=orig.get("REMOTE_ADDR"), scheme=request.scheme,
                       is_secure=request.is_secure, login_url=url_for("auth.login", _external=True))

    app.add_url_rule("/_test/peer", "test_peer", peer)

    from core.cli import waitress_options

    server = create_server(app, host="127.0.0.1", port=0, **waitress_options(app))  # as `flask serve`
    app_port = server.effective_port
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    conf_dir = tmp_path / "nginx"
    conf_dir.mkdir()
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (conf_dir / sub).mkdir()
    cert, key = _self_signed(conf_dir)
    https_port, http_port = _free_port(), _free_port()
    site_conf = _renderer().render(
        app, server_name="127.0.0.1", cert=str(cert), key=str(key), upstream=f"127.0.0.1:{app_port}",
        http_listen=f"127.0.0.1:{http_port}", https_listen=f"127.0.0.1:{https_port}",
        access_log=str(conf_dir / "logs" / "access.log"), error_log=str(conf_dir / "logs" / "error.log"))
    (conf_dir / "lantoa.conf").write_text(site_conf)
    user = "user root root;\n" if os.geteuid() == 0 else ""  # tmp folders are private to root
    mime = "include /etc/nginx/mime.types;" if os.path.exists("/etc/nginx/mime.types") else ""
    (conf_dir / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/logs/main-error.log info;
events {{ worker_connections 128; }}
http {{
    {mime}
    default_type application/octet-stream;
    client_body_temp_path {conf_dir}/body;
    proxy_temp_path {conf_dir}/proxy;
    fastcgi_temp_path {conf_dir}/fastcgi;
    uwsgi_temp_path {conf_dir}/uwsgi;
    scgi_temp_path {conf_dir}/scgi;
    access_log off;
    proxy_bind 127.0.0.2;
    include {conf_dir}/lantoa.conf;
}}
""")
    test = subprocess.run([nginx, "-t", "-p", str(conf_dir), "-c", str(conf_dir / "nginx.conf"),
                           "-e", str(conf_dir / "logs" / "main-error.log")],
                          capture_output=True, text=True, timeout=30)
    assert test.returncode == 0, test.stderr
    proc = subprocess.Popen([nginx, "-p", str(conf_dir), "-c", str(conf_dir / "nginx.conf"),
                             "-e", str(conf_dir / "logs" / "main-error.log")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_port(https_port, proc)
        yield {"app": app, "base": f"https://127.0.0.1:{https_port}", "http": f"http://127.0.0.1:{http_port}",
               "cert": cert, "conf": site_conf, "logs": conf_dir / "logs"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        server.close()
        thread.join(timeout=5)
        from core.db import get_engine

        get_engine(app).dispose()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_login_over_https_sets_a_secure_cookie_and_hsts_once(site):
    base = site["base"]
    user = make_user(site["app"], "communicator")
    web = _client(site["cert"], "127.0.0.4")
    r = web.get(f"{base}/login")
    assert r.status_code == 200
    assert r.raw.headers.getlist("Strict-Transport-Security") == ["max-age=31536000"]
    r = web.post(f"{base}/login", data={"email": user.email, "password": PASSWORD, "csrf_token": _csrf(r.text)},
                 headers={"Referer": f"{base}/login"}, allow_redirects=False)
    assert r.status_code == 302, r.text[:500]
    cookies = [c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies and all("; Secure" in c and "HttpOnly" in c for c in cookies), cookies
    assert r.raw.headers.getlist("Strict-Transport-Security") == ["max-age=31536000"]
    r = web.get(f"{base}/campaigns", allow_redirects=False)
    assert r.status_code == 200 and len(r.raw.headers.getlist("Strict-Transport-Security")) == 1
    # plain HTTP only redirects to the HTTPS site (same host and port the client used)
    r = _client(site["cert"]).get(f"{site['http']}/campaigns?x=1", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == f"{base}/campaigns?x=1"
    assert "Strict-Transport-Security" not in r.headers


def test_the_app_sees_the_client_address_scheme_and_host(site):
    base = site["base"]
    for source in ("127.0.0.1", "127.0.0.3"):
        # a forged X-Forwarded-For is overwritten by nginx, not trusted
        info = _client(site["cert"], source).get(f"{base}/_test/peer",
                                                 headers={"X-Forwarded-For": "203.0.113.7"}).json()
        assert info["remote_addr"] == info["limiter_key"] == source, info
        assert info["proxy_addr"] == "127.0.0.2", info  # what the app would see without ProxyFix
        assert info["scheme"] == "https" and info["is_secure"] is True
        assert info["login_url"] == f"{base}/login"


def test_login_limiter_counts_per_client_not_per_proxy(site):
    base = site["base"]
    user = make_user(site["app"], "communicator")

    def attempt(web: requests.Session) -> int:
        token = _csrf(web.get(f"{base}/login").text)
        return web.post(f"{base}/login", data={"email": user.email, "password": "sai-mat-khau",
                                               "csrf_token": token},
                        headers={"Referer": f"{base}/login"}, allow_redirects=False).status_code

    one = _client(site["cert"], "127.0.0.1")
    assert [attempt(one) for _ in range(LOGIN_LIMIT)] == [200] * LOGIN_LIMIT
    assert attempt(one) == 429
    # another client behind the same proxy is not locked out by the first one
    assert attempt(_client(site["cert"], "127.0.0.3")) == 200
    assert attempt(one) == 429


def test_static_files_come_from_nginx(site):
    css = ROOT / "core" / "static" / "app.css"
    r = _client(site["cert"]).get(f"{site['base']}/static/core/app.css")
    assert r.status_code == 200 and r.content == css.read_bytes()
    assert r.headers["Server"] == "nginx" and "Content-Security-Policy" not in r.headers  # not the app
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert _client(site["cert"]).get(f"{site['base']}/static/core/../../app.py").status_code in (400, 404)


def _csv(size: int) -> bytes:
    lines = [b"so_dien_thoai,ho_ten\r\n"]
    total, i = len(lines[0]), 0
    while total < size:
        row = f"09{(12345678 + i) % 100_000_000:08d},Nguyễn Văn An {i}\r\n".encode()
        lines.append(row)
        total += len(row)
        i += 1
    return b"".join(lines)


@pytest.mark.slow
def test_large_uploads_pass_the_proxy_and_the_app_answers_413_past_its_limit(site):
    """20 MB of recipients goes through nginx to the app; 26 MB, past the app's 25 MB
    limit but within nginx's (limit + envelope + 1 MB), gets the app's own message."""
    body_limit = int(re.search(r"client_max_body_size (\d+)m;", site["conf"]).group(1))
    assert body_limit == SMS_LIMIT_MB + 2  # 25 MB + 64 KB envelope -> 26, + 1 MB
    token = token_for(site["app"], make_user(site["app"], "communicator"))
    api = _client(site["cert"])
    api.headers["Authorization"] = f"Bearer {token}"
    url = f"{site['base']}/api/v1/recipient-lists"

    data = _csv(20 * 1024 * 1024)
    rows = data.count(b"\r\n") - 1
    r = api.post(url, files={"file": ("danh-sach.csv", data, "text/csv")}, data={"name": "Danh sách lớn"},
                 timeout=600)
    assert r.status_code == 201, r.text[:500]
    assert r.json()["rows"] == rows

    r = api.post(url, files={"file": ("qua-lon.csv", _csv(26 * 1024 * 1024), "text/csv")}, timeout=600)
    assert r.status_code == 413
    assert r.headers["Content-Type"].startswith("application/json")  # the app's answer, not nginx's page
    assert "Tệp quá lớn: giới hạn là 25 MB" in r.json()["error"]["message"]
