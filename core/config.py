"""Configuration from the environment (``LANTOA_*``) with safe defaults.

Secrets never live in the repository: without ``LANTOA_SECRET_KEY`` a random
key is generated once into ``instance/secret_key`` (mode 0600).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DEFAULTS = {
    "EXECUTOR": "inline",
    "SCHEDULER": "inline",
    "BROKER_URL": "redis://127.0.0.1:6379/0",
    "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
    "FACEBOOK_GRAPH_URL": "https://graph.facebook.com",
    "FACEBOOK_GRAPH_VERSION": "v25.0",
    "ZALO_OA_URL": "https://openapi.zalo.me",
    "ZALO_OAUTH_URL": "https://oauth.zaloapp.com",
    "ZNS_URL": "https://business.openapi.zalo.me",
    "SMTP_URL": "",
    "RETRY_MAX_ATTEMPTS": "5",
    "RETRY_BASE_SECONDS": "30",
    "RETRY_MAX_SECONDS": "3600",
    "RETRY_JITTER": "0.2",
    "LEASE_SECONDS": "75",
    "GRACE_HOURS": "6",
    "SEND_THREADS": "16",
    "MAX_UPLOAD_MB": "50",
    "LOGIN_RATE_LIMIT": "10 per minute",
    #: recipient-list / opt-out imports from XLSX: refused before parsing past these
    "IMPORT_MAX_XLSX_UNCOMPRESSED_MB": "500",
    "IMPORT_MAX_ROWS": "2000000",
    #: "1" behind a TLS reverse proxy (nginx): trust one hop of X-Forwarded-For/-Proto/-Host
    "BEHIND_PROXY": "",
    #: nightly backups (core/backup.py): archives kept in LANTOA_BACKUP_DIR (0 = no nightly
    #: backup) and the local hour from which the day's backup is queued
    "BACKUP_KEEP": "14",
    "BACKUP_HOUR": "2",
}


def _env(name: str) -> str | None:
    value = os.environ.get("LANTOA_" + name)
    return value if value not in (None, "") else None


def load_secret_key(instance_path: Path) -> str:
    key = _env("SECRET_KEY")
    if key:
        return key
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


def from_env(instance_path: Path) -> dict:
    """The app config built from LANTOA_* variables."""
    conf: dict = {}
    for name, default in DEFAULTS.items():
        conf["LANTOA_" + name] = _env(name) or default
    conf["SECRET_KEY"] = load_secret_key(instance_path)
    db_url = _env("DATABASE_URL") or f"sqlite:///{instance_path / 'lantoa.db'}"
    if db_url.startswith("postgresql://") or db_url.startswith("postgres://"):
        db_url = "postgresql+psycopg://" + db_url.split("://", 1)[1]
    conf["LANTOA_DATABASE_URL"] = db_url
    conf["MAX_CONTENT_LENGTH"] = int(conf["LANTOA_MAX_UPLOAD_MB"]) * 1024 * 1024
    conf["LANTOA_MEDIA_DIR"] = _env("MEDIA_DIR") or str(instance_path / "media")
    # unset: <instance>/backups, resolved when used (core.backup.backup_dir)
    conf["LANTOA_BACKUP_DIR"] = _env("BACKUP_DIR") or ""
    # Every other LANTOA_* variable (the parts' own settings, docs/*.md) reaches
    # app.config too: some parts read only app.config (deploy/lantoa.env.example).
    for name, value in os.environ.items():
        if name.startswith("LANTOA_") and value != "" and name not in conf and name not in _NOT_CONFIG:
            conf[name] = int(value) if name in _INT_SETTINGS and value.strip().isdigit() else value
    return conf


#: handled above (the key is SECRET_KEY) or not settings of the app
_NOT_CONFIG = {"LANTOA_SECRET_KEY", "LANTOA_INSTANCE_PATH"}
#: settings whose reader expects an int in app.config
_INT_SETTINGS = {"LANTOA_KIT_WORKERS"}


#: what the QR codes of printed kits point to when no public address is configured
LOOPBACK_BASE_URL = DEFAULTS["PUBLIC_BASE_URL"]


def is_public_url(url: str) -> bool:
    """Whether citizens can reach ``url``: http(s) with a host that is not ``localhost``
    nor a loopback, unspecified, private or link-local IP address."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(str(url or "").strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost" or host.endswith((".localhost", ".local")):
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return True
    return not (ip.is_loopback or ip.is_unspecified or ip.is_private or ip.is_link_local)


def public_base_url_problem(app) -> str | None:
    """None when ``LANTOA_PUBLIC_BASE_URL`` is a public address (:func:`is_public_url`);
    else, for admins, a sentence (Vietnamese, or the request's language) saying that
    printed QR codes and links will not work. Unset means the loopback default. The
    sentence names no setting (the docs do).
    """
    url = str(app.config.get("LANTOA_PUBLIC_BASE_URL") or "").strip()
    if is_public_url(url):
        return None
    from flask_babel import gettext  # works outside a request too (Vietnamese there)

    return gettext(
        "Chưa đặt địa chỉ công khai của hệ thống: mã QR và đường dẫn trên ấn phẩm, bộ tài "
        "liệu đang trỏ tới %(url)s, người dân quét sẽ không mở được. Quản trị viên cần đặt "
        "địa chỉ công khai (xem hướng dẫn cài đặt) rồi tạo lại bộ tài liệu.",
        url=url or LOOPBACK_BASE_URL,
    )
