"""Small helpers shared by the app-level tests."""

from __future__ import annotations

import io
from collections.abc import Iterable

from sqlmodel import select

from core.db import session_scope
from core.models import ApiToken, OrgUnit, Role, User
from core.security import hash_password, hash_token, new_token
from core.timeutil import utcnow

PASSWORD = "mat-khau-thu-nghiem"

#: role -> unit code of the demo user of that role
ROLE_UNITS = {
    "admin": None,
    "communicator": "so-vhttdl",
    "reviewer": "so-khcn",
    "unit_officer": "tx-vinh-chau",
    "telecom_partner": "viettel",
    "team_member": "xa-lac-hoa",
    "translator": "tx-vinh-chau",
    "contest_judge": None,
}


def seed_units(app) -> None:
    from campaigns.demo import seed_units as _seed

    with app.app_context(), session_scope(app) as s:
        if s.exec(select(OrgUnit.id)).first() is None:
            _seed(s)


def make_user(app, role: str, unit_code: str | None = "default", email: str | None = None) -> User:
    seed_units(app)
    if unit_code == "default":
        unit_code = ROLE_UNITS[role]
    email = email or f"{role}.{unit_code or 'all'}@test.local"
    with app.app_context(), session_scope(app) as s:
        existing = s.exec(select(User).where(User.email == email)).first()
        if existing:
            return existing
        unit = (
            s.exec(select(OrgUnit).where(OrgUnit.code == unit_code)).first() if unit_code else None
        )
        user = User(
            email=email,
            name=email.split("@")[0],
            password_hash=hash_password(PASSWORD),
            role=Role(role),
            unit_id=unit.id if unit else None,
            created_at=utcnow(),
        )
        s.add(user)
        s.flush()
        s.refresh(user)
        return user


def token_for(app, user: User) -> str:
    token = new_token()
    with app.app_context(), session_scope(app) as s:
        s.add(
            ApiToken(
                user_id=user.id, token_hash=hash_token(token), prefix=token[:8], created_at=utcnow()
            )
        )
    return token


def api_headers(app, role: str, unit_code: str | None = "default") -> dict:
    return {"Authorization": "Bearer " + token_for(app, make_user(app, role, unit_code))}


def login(client, user_or_email, password: str = PASSWORD):
    email = user_or_email if isinstance(user_or_email, str) else user_or_email.email
    return client.post("/login", data={"email": email, "password": password})


def make_app_with_catalogue(tmp_path, catalogue):
    """An app reading a .mo compiled from ``catalogue`` (the checked-in
    messages.po is what i18n tests test, not whatever messages.mo was last built)."""
    from babel.messages.mofile import write_mo

    from tests.conftest import make_app

    mo = tmp_path / "translations" / "en" / "LC_MESSAGES" / "messages.mo"
    mo.parent.mkdir(parents=True)
    with open(mo, "wb") as f:
        write_mo(f, catalogue)
    return make_app(
        f"sqlite:///{tmp_path / 'test.db'}",
        tmp_path,
        WTF_CSRF_ENABLED=False,
        BABEL_TRANSLATION_DIRECTORIES=str(tmp_path / "translations"),
    )


class ChunkStream(io.RawIOBase):
    """An upload read from byte chunks made as it is read (a large file that is never held
    in memory, and cannot tell its size)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buf = b""

    def readable(self):
        return True

    def readinto(self, b):
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n
