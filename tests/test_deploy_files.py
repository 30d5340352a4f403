"""The files of deploy/ agree with the code: every LANTOA_* setting the code reads is
in the environment file template, every setting there reaches the app, and the
systemd units never start a second scheduler."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "lantoa.env.example"
CODE = ("app.py", "core", "campaigns", "scheduler", "channels", "media_templates")
NAME = re.compile(r"LANTOA_[A-Z0-9_]*[A-Z0-9]\b")


def _example() -> dict[str, str]:
    out = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^#?(LANTOA_[A-Z0-9_]+)=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _names_in_code() -> set[str]:
    names: set[str] = set()
    for part in CODE:
        path = ROOT / part
        files = [path] if path.is_file() else path.rglob("*.py")
        for f in files:
            text = f.read_text(encoding="utf-8")
            names.update(NAME.findall(text))
            # built from a suffix: _conf("FEEDBACK_RATE_LIMIT", ...) reads LANTOA_FEEDBACK_RATE_LIMIT
            names.update("LANTOA_" + n for n in re.findall(r'_conf\("([A-Z0-9_]+)"', text))
    from core.config import DEFAULTS

    names.update(f"LANTOA_{k}" for k in DEFAULTS)
    return {n for n in names if not n.startswith("LANTOA_TEST")}


def test_every_setting_the_code_reads_is_in_the_env_template():
    documented = set(_example())
    assert _names_in_code() - documented == set()
    assert documented - _names_in_code() == set()  # nothing stale either


def test_the_template_has_no_secret_and_no_blank_comment_only_values():
    values = _example()
    assert values["LANTOA_SECRET_KEY"] == ""
    assert "LANTOA_TTS_API_KEY" in values and values["LANTOA_TTS_API_KEY"] == ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        assert not re.match(r"^LANTOA_\w+=\s|^LANTOA_\w+ =", line), line  # systemd would keep the space


def test_every_setting_of_the_template_reaches_the_app(monkeypatch, tmp_path):
    values = {k: v for k, v in _example().items() if v}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LANTOA_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("LANTOA_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("LANTOA_SECRET_KEY", "k" * 40)
    from app import create_app

    app = create_app()
    assert app.config["SECRET_KEY"] == "k" * 40
    skipped = {"LANTOA_INSTANCE_PATH", "LANTOA_DATABASE_URL"}
    for name, value in values.items():
        if name not in skipped:
            assert str(app.config.get(name)) == value, name
    assert app.config["LANTOA_KIT_WORKERS"] == int(values["LANTOA_KIT_WORKERS"])
    assert app.instance_path == str(tmp_path)
    from core.db import get_engine

    get_engine(app).dispose()


def test_systemd_units_run_one_scheduler_and_read_the_env_file():
    units = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "deploy" / "systemd").glob("*.service")}
    assert set(units) == {"lantoa-web.service", "lantoa-scheduler.service", "lantoa-worker@.service"}
    for name, text in units.items():
        assert "EnvironmentFile=/etc/lantoa/lantoa.env" in text, name
        assert re.search(r"^User=lantoa$", text, re.M), name
    web = re.search(r"^ExecStart=(.*)$", units["lantoa-web.service"], re.M).group(1)
    assert "LANTOA_SCHEDULER=off" in web and " serve " in web and "127.0.0.1" in web
    assert "flask --app app scheduler" in units["lantoa-scheduler.service"]
    assert "celery -A scheduler.celery_app worker" in units["lantoa-worker@.service"]
