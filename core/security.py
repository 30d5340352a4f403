"""Password hashing, API tokens and encryption of secrets at rest."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from werkzeug.security import check_password_hash, generate_password_hash

TOKEN_PREFIX = "lt_"


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return check_password_hash(password_hash, password)
    except (ValueError, TypeError):
        return False


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_password(length: int = 16) -> str:
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


class SecretBox:
    """Encrypts channel secrets with a key derived from the app's SECRET_KEY."""

    def __init__(self, secret_key: str):
        raw = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"lantoa-secrets-v1", info=b"channel-secrets"
        ).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))

    def encrypt(self, values: dict) -> str:
        return self._fernet.encrypt(json.dumps(values).encode()).decode()

    def decrypt(self, blob: str | None) -> dict:
        if not blob:
            return {}
        try:
            return json.loads(self._fernet.decrypt(blob.encode()))
        except InvalidToken as exc:
            raise ValueError("secrets cannot be decrypted with this SECRET_KEY") from exc
