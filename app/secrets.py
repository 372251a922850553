"""Mailbox passwords are kept encrypted at rest with a key that never enters the database."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from app.config import Settings
from app.errors import ConfigurationError
from app.logs import register_secret


class SecretBox:
    def __init__(self, key: bytes) -> None:
        register_secret(key.decode("ascii", "replace"), pinned=True)
        try:
            self._fernet = Fernet(key)
            self._key = key
        except ValueError as exc:
            raise ConfigurationError(
                "ROUTEDESK_SECRET_KEY must be 32 url-safe base64-encoded bytes (Fernet.generate_key())"
            ) from exc

    def derive_key(self, label: bytes) -> bytes:
        """A key of its own for one use (signing links, say): HMAC-SHA256 of `label` under the secret."""
        return hmac.new(self._key, label, hashlib.sha256).digest()

    def encrypt(self, plaintext: str) -> str:
        register_secret(plaintext)  # a mailbox password: from now on redacted wherever a log line quotes it
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            plaintext = self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ConfigurationError(
                "a stored mailbox password cannot be decrypted: ROUTEDESK_SECRET_KEY is not the key it was saved with"
            ) from exc
        register_secret(plaintext)
        return plaintext


def load_secret_box(settings: Settings) -> SecretBox:
    if settings.secret_key is not None:
        return SecretBox(settings.secret_key.get_secret_value().encode())
    path = Path(settings.data_dir) / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
    return SecretBox(path.read_bytes().strip())
