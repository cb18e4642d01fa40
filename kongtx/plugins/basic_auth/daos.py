"""``basicauth_credentials`` (``/basic-auths``, ``/consumers/{c}/basic-auth``).

The password is bcrypt-hashed by an entity transformation, in a thread, on
every insert/update/upsert that carries a new plain password; reads (the
Admin API included) only ever return the hash.
"""

from __future__ import annotations

from typing import Any

from kongtx.plugins.basic_auth import crypto
from kongtx.schema import typedefs
from kongtx.schema.entity import Entity
from kongtx.schema.fields import String


async def hash_password(
    row: dict[str, Any], dao: Any, existing: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Replace a plain ``password`` by its bcrypt hash (validation reports bad values).

    A hash already stored is kept: bcrypt, or Kong's SHA-1 form of an imported
    credential written back unchanged (a PATCH of its tags, say).
    """
    password = row.get("password")
    if not isinstance(password, str) or password == "" or crypto.is_hashed(password):
        return row
    if existing is not None and existing.get("password") == password:
        return row
    hashed = await crypto.run_in_thread(
        getattr(dao, "clock", None), crypto.hash_password, password.encode("utf-8")
    )
    return {**row, "password": hashed}


hash_password.with_existing = True  # type: ignore[attr-defined]


BASICAUTH_CREDENTIALS = Entity(
    "basicauth_credentials",
    {
        "consumer": typedefs.credential_consumer,
        "username": String(required=True, unique=True),
        "password": String(required=True),
    },
    endpoint_key="username",
    admin_path="/basic-auths",
    admin_nested_name="basic-auth",
    transformations=[hash_password],
)

ENTITIES = (BASICAUTH_CREDENTIALS,)
