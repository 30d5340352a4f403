"""Render deploy/nginx/lantoa.conf.in into an nginx site file (docs/deploy.md).

Run from the release folder with the service's environment, as the result depends
on it (upload limits) and on where the code is (the blueprints' static folders)::

    set -a; . /etc/lantoa/lantoa.env; set +a
    .venv/bin/python deploy/render_nginx.py --server-name lantoa.soctrang.gov.vn \\
        --cert /etc/letsencrypt/live/lantoa.soctrang.gov.vn/fullchain.pem \\
        --key /etc/letsencrypt/live/lantoa.soctrang.gov.vn/privkey.pem \\
        > /etc/nginx/sites-available/lantoa

Nothing is written but standard output: the app is built with a throw-away
instance folder and an in-memory database, so no file of the real instance is
created by whoever runs this (root, usually).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "nginx" / "lantoa.conf.in"


def upload_limit_mb(app) -> int:
    """The largest request body the app accepts anywhere, in whole MB."""
    from campaigns.sms.service import max_upload_bytes

    limits = [int(app.config["MAX_CONTENT_LENGTH"]), max_upload_bytes(app) + 64 * 1024]
    return math.ceil(max(limits) / (1024 * 1024))


def static_locations(app, indent: str = "    ") -> str:
    """One ``location`` per blueprint static folder that exists (the app serves the rest)."""
    out = []
    seen = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.endswith("static"):
            continue
        name = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else None
        folder = app.blueprints[name].static_folder if name else app.static_folder
        prefix = rule.rule.split("<", 1)[0]
        if not folder or not Path(folder).is_dir() or prefix in seen or not prefix.endswith("/"):
            continue
        seen.add(prefix)
        out.append(
            f"{indent}location {prefix} {{\n"
            f"{indent}    alias {Path(folder).resolve()}/;\n"
            f"{indent}    expires 1h;\n"
            f"{indent}    add_header X-Content-Type-Options nosniff;\n"
            f"{indent}    access_log off;\n"
            f"{indent}}}\n"
        )
    return "".join(out)


def render(app, *, server_name: str, cert: str, key: str, upstream: str = "127.0.0.1:8000",
           http_listen: str = "80", https_listen: str = "443",
           access_log: str = "/var/log/lantoa/nginx-access.log",
           error_log: str = "/var/log/lantoa/nginx-error.log") -> str:
    https_port = https_listen.rsplit(":", 1)[-1]
    values = {
        "SERVER_NAME": server_name,
        "TLS_CERT": cert,
        "TLS_KEY": key,
        "UPSTREAM": upstream,
        "HTTP_LISTEN": http_listen,
        "HTTPS_LISTEN": https_listen,
        "HTTPS_PORT_SUFFIX": "" if https_port == "443" else f":{https_port}",
        "ACCESS_LOG": access_log,
        "ERROR_LOG": error_log,
        "MAX_BODY_MB": str(upload_limit_mb(app) + 1),
        "STATIC_LOCATIONS": static_locations(app),
    }
    text = TEMPLATE.read_text(encoding="utf-8")
    for name, value in values.items():
        if any(c in value for c in ";{}\n") and name != "STATIC_LOCATIONS":
            raise ValueError(f"{name}: {value!r} cannot go into an nginx directive")
        text = text.replace(f"@{name}@", value)
    if "@" in "".join(line for line in text.splitlines() if not line.lstrip().startswith("#")):
        raise ValueError("a placeholder of the template was left unrendered")
    return text


def _app_for_rendering():
    """The app as configured by the environment, minus anything that would write."""
    tmp = tempfile.mkdtemp(prefix="lantoa-render-")
    os.environ["LANTOA_INSTANCE_PATH"] = tmp
    os.environ["LANTOA_DATABASE_URL"] = "sqlite://"
    os.environ.setdefault("LANTOA_SECRET_KEY", "render-only")
    os.environ["LANTOA_MEDIA_DIR"] = str(Path(tmp) / "media")
    sys.path.insert(0, str(ROOT))
    from app import create_app

    return create_app()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-name", required=True, help="public host name(s), e.g. lantoa.soctrang.gov.vn")
    parser.add_argument("--cert", required=True, help="certificate chain (PEM)")
    parser.add_argument("--key", required=True, help="private key (PEM)")
    parser.add_argument("--upstream", default="127.0.0.1:8000", help="where waitress listens")
    parser.add_argument("--http-listen", default="80")
    parser.add_argument("--https-listen", default="443")
    parser.add_argument("--access-log", default="/var/log/lantoa/nginx-access.log")
    parser.add_argument("--error-log", default="/var/log/lantoa/nginx-error.log")
    args = parser.parse_args(argv)
    import logging

    logging.disable(logging.WARNING)  # start-up warnings of the throw-away app
    app = _app_for_rendering()
    sys.stdout.write(render(app, server_name=args.server_name, cert=args.cert, key=args.key,
                            upstream=args.upstream, http_listen=args.http_listen,
                            https_listen=args.https_listen, access_log=args.access_log,
                            error_log=args.error_log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
