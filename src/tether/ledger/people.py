"""People and their tokens. Only a sha256 of each token is stored.

Tokens are 256 random bits, so a plain hash is as strong as a slow one and
lets a request be identified with one indexed lookup.
"""

import hashlib
import secrets
import time

from sqlalchemy import Connection, insert, select, update

from tether.domain.ids import validate_name
from tether.domain.team import Person, Role, TokenInfo
from tether.errors import Conflict, InvalidInput, NotFound
from tether.ledger.schema import tokens, users

TOKEN_PREFIX = "tether_"
MAX_LABEL = 64


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def add_user(conn: Connection, name: str, role: Role) -> Person:
    name = validate_name(name, "user name")
    if conn.execute(select(users.c.id).where(users.c.name == name)).first():
        raise Conflict(f"a user named {name!r} exists already; see `tether user ls`")
    conn.execute(insert(users).values(name=name, role=role.value, created_at=time.time()))
    return Person(name, role)


def set_role(conn: Connection, name: str, role: Role) -> Person:
    _user_id(conn, name)
    conn.execute(update(users).where(users.c.name == name).values(role=role.value))
    return Person(name, role)


def list_users(conn: Connection) -> list[Person]:
    rows = conn.execute(select(users.c.name, users.c.role).order_by(users.c.name))
    return [Person(r.name, Role(r.role)) for r in rows]


def create_token(conn: Connection, user: str, label: str | None = None) -> tuple[int, str]:
    """A new token for ``user``: its id and the secret, which is shown once and not kept."""
    if label is not None and not 0 < len(label) <= MAX_LABEL:
        raise InvalidInput(f"a token label must be 1-{MAX_LABEL} characters")
    user_id = _user_id(conn, user)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = conn.execute(
        insert(tokens)
        .values(user_id=user_id, hash=token_hash(secret), label=label, created_at=time.time())
        .returning(tokens.c.id)
    ).scalar_one()
    return int(token_id), secret


def revoke(conn: Connection, token_id: int) -> TokenInfo:
    """Refuse the token from now on; revoking twice keeps the first time."""
    conn.execute(
        update(tokens)
        .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
        .values(revoked_at=time.time())
    )
    found = [t for t in list_tokens(conn) if t.id == token_id]
    if not found:
        raise NotFound(f"no token with id {token_id}; see `tether token ls`")
    return found[0]


def list_tokens(conn: Connection) -> list[TokenInfo]:
    rows = conn.execute(
        select(tokens, users.c.name.label("user"))
        .join(users, users.c.id == tokens.c.user_id)
        .order_by(tokens.c.id)
    )
    return [TokenInfo(r.id, r.user, r.label, r.created_at, r.revoked_at) for r in rows]


def person_for(conn: Connection, token: str) -> Person | None:
    """The holder of a live token, or None for an unknown or revoked one."""
    row = conn.execute(
        select(users.c.name, users.c.role)
        .join(tokens, tokens.c.user_id == users.c.id)
        .where(tokens.c.hash == token_hash(token), tokens.c.revoked_at.is_(None))
    ).first()
    return None if row is None else Person(row.name, Role(row.role))


def has_live_tokens(conn: Connection) -> bool:
    live = select(tokens.c.id).where(tokens.c.revoked_at.is_(None)).limit(1)
    return conn.execute(live).first() is not None


def _user_id(conn: Connection, name: str) -> int:
    user_id = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
    if user_id is None:
        raise NotFound(f"no user named {name!r}; add one with `tether user add {name}`")
    return int(user_id)
