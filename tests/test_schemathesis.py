"""schemathesis against a live server: every /api/v1 operation, as each role, with
a fixed seed and a bounded budget, stateful sequences included (the OpenAPI
document's links: create -> get/update/transition). No server error, no answer
that contradicts the document.

Admin on SQLite; every role on PostgreSQL. The schemathesis CLI runs in a
subprocess against the app served in a thread of this process (tests/browser.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import demo_world
from tests.browser import serve
from tests.conftest import create_pg_database, make_app
from tests.helpers import token_for

pytestmark = pytest.mark.slow

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
#: examples per operation and phase; the whole schemathesis part stays under 10 minutes
MAX_EXAMPLES = int(os.environ.get("LANTOA_SCHEMATHESIS_EXAMPLES", "25"))
SEED = 20261010
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
ROLES = ["admin", "communicator", "reviewer", "unit_officer", "telecom_partner"]


def run_schemathesis(base: str, token: str, report_dir: Path) -> tuple[int, str]:
    cmd = [
        SCHEMATHESIS, "run", f"{base}/api/v1/openapi.json",
        "--url", f"{base}/api/v1",
        "-H", f"Authorization: Bearer {token}",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(MAX_EXAMPLES),
        "--seed", str(SEED), "--generation-deterministic",
        "--workers", "1", "--request-timeout", "30",
        "--no-shrink", "--continue-on-failure",
        "--suppress-health-check", "all",
        "--report", "ndjson", "--report-dir", str(report_dir),
        "--no-color", "--output-truncate", "true",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "NO_COLOR": "1", "COLUMNS": "160"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=report_dir)
    return proc.returncode, proc.stdout + proc.stderr


def _world(app, tmp_path) -> dict:
    return demo_world.build(app, tmp_path)


def _check(app, tmp_path, role: str, world: dict) -> None:
    token = token_for(app, world["users"][role])
    report = tmp_path / f"st-{role}"
    report.mkdir()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    with serve(app) as base:
        code, output = run_schemathesis(base, token, report)
    assert code == 0, output[-20000:]
    assert "Server error" not in output, output[-20000:]
    # every phase ran, the stateful one through the document's links
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert f"✅  {phase}" in output, output[-20000:]
    assert "API Links:" in output and "0 selected" not in output, output[-20000:]
    summary = [line.strip() for line in output.splitlines()
               if any(k in line for k in ("(in ", "API Links:", "generated", "passed"))]
    print(f"schemathesis as {role}:", " | ".join(summary))  # shown with -s / -rP


def test_schemathesis_sqlite_admin(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'st.db'}", tmp_path, WTF_CSRF_ENABLED=False)
    try:
        _check(app, tmp_path, "admin", _world(app, tmp_path))
    finally:
        from core.db import get_engine

        get_engine(app).dispose()


@pytest.fixture(scope="module")
def pg_world(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("st-pg")
    url, drop = create_pg_database()
    app = make_app(url, tmp_path, WTF_CSRF_ENABLED=False)
    world = _world(app, tmp_path)
    yield app, tmp_path, world
    from core.db import get_engine

    get_engine(app).dispose()
    drop()


@pytest.mark.parametrize("role", ROLES)
def test_schemathesis_postgres(pg_world, role):
    app, tmp_path, world = pg_world
    _check(app, tmp_path, role, world)

