"""Encryption at rest for connection secrets (SASL passwords, TLS keys).

Secrets are sealed with Fernet (AES-128-CBC + HMAC-SHA256) before they reach
the database. The key comes from CLUSTERLINK_SECRET_KEY, or from a key file
that is created once with mode 0600 beside the service's data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from cryptography.fernet import Fernet, InvalidToken

KEY_ENV = "CLUSTERLINK_SECRET_KEY"


class SecretKeyError(RuntimeError):
    pass


@dataclass(frozen=True)
class SecretBox:
    fernet: Fernet

    def seal(self, secrets: dict[str, str]) -> str | None:
        kept = {k: v for k, v in secrets.items() if v}
        if not kept:
            return None
        return self.fernet.encrypt(json.dumps(kept, sort_keys=True).encode()).decode()

    def open(self, sealed: str | None) -> dict[str, str]:
        if not sealed:
            return {}
        try:
            return json.loads(self.fernet.decrypt(sealed.encode()))
        except InvalidToken as exc:
            raise SecretKeyError(
                "stored secrets cannot be decrypted with this secret key; "
                f"start the service with the key it used before ({KEY_ENV} or --secret-key-file)"
            ) from exc

    def __repr__(self) -> str:  # never show key material
        return "SecretBox(<sealed>)"


def default_key_file() -> Path:
    return Path(platformdirs.user_data_dir("clusterlink")) / "secret.key"


def load_box(key_file: Path | None = None) -> SecretBox:
    env = os.environ.get(KEY_ENV)
    if env:
        try:
            return SecretBox(Fernet(env.encode()))
        except ValueError as exc:
            raise SecretKeyError(
                f"{KEY_ENV} must be 32 url-safe base64-encoded bytes "
                "(make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            ) from exc
    path = key_file or default_key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two services starting at once must not write two keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
                fh.flush()
                os.fsync(fh.fileno())
    try:
        return SecretBox(Fernet(path.read_bytes().strip()))
    except ValueError as exc:
        raise SecretKeyError(f"secret key file {path} is not a valid Fernet key") from exc
