"""Secrets at rest: sealed with Fernet under the installation's key."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class Sealer:
    """Encrypts small secret mappings for storage; the key never enters the database."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_home(cls, home: Path, configured: str | None = None) -> Sealer:
        """Use the configured key, else ``<home>/secret.key``, made (mode 0600) on first use."""
        if configured:
            return cls(configured.encode())
        path = home / "secret.key"
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it first; read theirs
            else:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def seal(self, values: dict[str, str]) -> str:
        if not values:
            return ""
        return self._fernet.encrypt(json.dumps(values, sort_keys=True).encode()).decode()

    def unseal(self, sealed: str) -> dict[str, str]:
        if not sealed:
            return {}
        try:
            data = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as exc:
            raise ValueError("sealed secrets do not open with this key") from exc
        return {str(k): str(v) for k, v in data.items()}
