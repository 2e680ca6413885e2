"""An owned session's token sealed for its own continuation (paging/job_session.py): Fernet (AES-128-CBC +
HMAC-SHA256, `cryptography`) under a key derived with HKDF-SHA256 from the connector's login secrets, the salt
naming the connector and the job. What travels (the Celery message, the frontier in Redis, the ledger) is
ciphertext that only a holder of the password opens, and one who holds it could log in anyway; a blob of
another job, another connector or an older password does not open (None): the session is then lost."""
from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = b"nexus-sync sealed session v1"


def _fernet(secret: bytes, salt: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt.encode(), info=INFO).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def seal(token: str, secret: bytes, salt: str) -> str:
    return _fernet(secret, salt).encrypt(token.encode()).decode()


def unseal(blob: object, secret: bytes, salt: str) -> str | None:
    """The token, or None for a blob this key did not seal (tampered, another job, a changed password)."""
    if not isinstance(blob, str):
        return None
    try:
        return _fernet(secret, salt).decrypt(blob.encode()).decode()
    except (InvalidToken, UnicodeDecodeError):  # not ours: the caller treats the session as lost
        return None
