"""Session tokens: ``<session_id>.<secret>`` with a 256-bit random secret.

Only SHA-256 of the secret is stored. A plain hash (not a slow KDF) is right here: the secret is
256 random bits, so there is nothing to brute-force, and validation stays one hash per request.
The session id is public (it names the session in the console and in events); the secret never
leaves the ``CreatedSession`` returned to the application.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import NamedTuple

from .keys import SESSION_ID_LEN, TAG_LEN, b64

SECRET_BYTES = 32
SECRET_LEN = 43  # base64url of 32 bytes, unpadded
TOKEN_LEN = SESSION_ID_LEN + 1 + SECRET_LEN
_TOKEN_RE = re.compile(rf"[A-Za-z0-9_-]{{{SESSION_ID_LEN}}}\.[A-Za-z0-9_-]{{{SECRET_LEN}}}")


class ParsedToken(NamedTuple):  # a named tuple: built on every validate, and cheaply
    session_id: str
    tag: str
    rand: str
    secret_hash: bytes


def new_rand() -> str:
    return b64(secrets.token_bytes(8))


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("ascii")).digest()


def new_token(session_id: str) -> tuple[str, bytes]:
    """A fresh token for ``session_id`` and the hash to store."""
    secret = b64(secrets.token_bytes(SECRET_BYTES))
    return f"{session_id}.{secret}", hash_secret(secret)


def parse_token(token: object) -> ParsedToken | None:
    """The parts of a well-formed token; ``None`` for anything else (any type, any length)."""
    if not isinstance(token, str) or len(token) != TOKEN_LEN:
        return None
    if not _TOKEN_RE.fullmatch(token):
        return None
    session_id = token[:SESSION_ID_LEN]
    return ParsedToken(session_id, token[:TAG_LEN], session_id[TAG_LEN:],
                       hash_secret(token[SESSION_ID_LEN + 1:]))
