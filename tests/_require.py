"""Skip a test when a real service or Debian package is missing -- except in CI
(CI=true), where a missing dependency is a failure, not a skip."""

from __future__ import annotations

import os
import shutil
import socket

import pytest


def missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_port(name: str, port: int, host: str = "127.0.0.1") -> None:
    if not port_open(host, port):
        missing(f"{name} is not running on {host}:{port}")


def require_executable(path_or_name: str, package: str) -> str:
    found = shutil.which(path_or_name) or (path_or_name if os.path.exists(path_or_name) else None)
    if not found:
        missing(f"{path_or_name} not found: install the Debian package '{package}'")
    return found


def require_file(path: str, how: str) -> str:
    """A file a test needs that an install step provides (e.g. an npm package)."""
    if not os.path.exists(path):
        missing(f"{path} not found: {how}")
    return path
