"""The code stays lint-clean (ruff) and channels/ and scheduler/ type-check (mypy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff():
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_on_channels_and_scheduler():
    result = run("mypy", "channels", "scheduler")
    assert result.returncode == 0, result.stdout + result.stderr
