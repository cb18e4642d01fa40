"""The DAO: schema-checked CRUD over any backend, publishing change events.

Every write runs in ONE backend transaction: schema processing
(``process_input`` -> ``fill_defaults`` -> transformations -> ``validate``),
primary key, foreign key and unique checks, the write itself, cascades and
transient rows (``certificates.snis``). If anything fails, nothing changes.
Change events are fired to local listeners after the commit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from kongtx.errors import (
    ForeignKeyViolation,
    InvalidOptions,
    InvalidSize,
    NotFound,
    OperationUnsupported,
    PrimaryKeyViolation,
    UniqueViolation,
)
from kongtx.schema.entity import schema_violation
from kongtx.schema.fields import is_uuid
from kongtx.store.backend import CACHE_KEY, EXPIRE_AT, Row
from kongtx.store.events import CREATE, DELETE, UPDATE, ChangeEvent, ChangeHub, ChangeListener
from kongtx.store.paging import Page, decode_offset, encode_offset, lua_literal

_log = Logger()

__all__ = ["DAO", "Page", "TxWrites", "decode_offset", "encode_offset", "lua_literal"]

MAX_TTL = 100000000
T = TypeVar("T")


class DAO:
    """Checked CRUD over ``backend``.

    :param backend: a :class:`~kongtx.store.backend.Backend`.
    :param clock: ``seconds()`` for timestamps and ttl.
    :param registry: the schema registry (``get``/``all``); default :mod:`kongtx.schema.registry`.
    """

    def __init__(self, backend: Any, clock: IReactorTime, *, registry: Any = None) -> None:
        if registry is None:
            from kongtx.schema import registry as _registry

            registry = _registry
        self.backend = backend
        self.clock = clock
        self.registry = registry
        self._hub = ChangeHub()
        self._refs_cache: tuple[int, dict[str, list[tuple[Any, str, str]]]] | None = None
        self._closers: list[Callable[[], Any]] = []
        #: DB-less mode: only a whole declarative configuration may change the rows.
        self.read_only = False

    def _check_writable(self, ent: Any, operation: str) -> None:
        if self.read_only:
            raise OperationUnsupported(
                f"cannot {operation} '{ent.name}' entities when not using a database"
            )

    # -- listeners ------------------------------------------------------------
    def add_change_listener(self, cb: ChangeListener) -> None:
        """Call ``cb(ChangeEvent)`` for every committed change (local and remote)."""
        self._hub.add(cb)

    def remove_change_listener(self, cb: ChangeListener) -> None:
        """Stop calling ``cb``."""
        self._hub.remove(cb)

    def fire(self, event: ChangeEvent) -> None:
        """Deliver ``event`` to the listeners (used by the cluster listener)."""
        self._hub.fire(event)

    # -- helpers --------------------------------------------------------------
    def _entity(self, entity: Any) -> Any:
        return self.registry.get(entity) if isinstance(entity, str) else entity

    async def _run(self, fn: Callable[[Any], Any], write: bool = True) -> Any:
        # A caller that gives up (an Admin API client gone: Klein cancels its handler) must
        # not cut a transaction in half: it runs to its COMMIT or ROLLBACK by itself.
        return await _shielded(Deferred.fromCoroutine(self._transaction(fn, write)))

    async def _transaction(self, fn: Callable[[Any], Any], write: bool) -> Any:
        now = self.clock.seconds()
        holder: list[list[ChangeEvent]] = []

        async def work(tx: Any) -> Any:
            result = await fn(tx)
            holder.append(list(tx.events))
            return result

        result = await self.backend.transaction(work, now, write)
        for ev in holder[0] if holder else ():
            self._hub.fire(ev)
        return result

    def _referrers(self, name: str) -> list[tuple[Any, str, str]]:
        """``[(child_entity, fk_field, on_delete)]`` referencing entity ``name``."""
        entities = self.registry.all()
        if self._refs_cache is None or self._refs_cache[0] != len(entities):
            refs: dict[str, list[tuple[Any, str, str]]] = {}
            for child in entities:
                for fname, f in child.foreign_fields().items():
                    refs.setdefault(f.reference, []).append((child, fname, f.on_delete))
            self._refs_cache = (len(entities), refs)
        return self._refs_cache[1].get(name, [])

    def _transient_child(self, ent: Any, tname: str) -> tuple[Any, str, str]:
        """The entity storing transient field ``tname`` of ``ent``, its FK field and key."""
        child = self.registry.get(tname)
        fk = next(n for n, f in child.foreign_fields().items() if f.reference == ent.name)
        return child, fk, child.endpoint_key or "name"

    @staticmethod
    def _pop_ttl(ent: Any, data: dict[str, Any]) -> int | None:
        if "ttl" not in data:
            return None
        ttl = data.pop("ttl")
        if ttl is None:
            return None
        if not ent.ttl:
            msg = f"cannot be used with '{ent.name}'"
        elif (
            isinstance(ttl, bool)
            or not isinstance(ttl, (int, float))
            or ttl != int(ttl)
            or not 0 <= ttl <= MAX_TTL
        ):
            msg = f"must be an integer between 0 and {MAX_TTL}"
        else:
            return int(ttl) or None  # Kong: ttl 0 = never expires
        raise InvalidOptions(f"invalid option (ttl: {msg})", options={"ttl": msg})

    def _pop_transient(self, ent: Any, data: dict[str, Any]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for tname in ent.transient_fields:
            if tname not in data:
                continue
            value = data.pop(tname)
            if value is None:
                value = []
            elif isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list):
                raise schema_violation({tname: "expected an array"})
            seen: set[str] = set()
            errors: list[Any] = []
            child, _fk, key = self._transient_child(ent, tname)
            for name in value:
                errors.append(child.fields[key].validate(name))
            if any(e is not None for e in errors):
                raise schema_violation({tname: errors})
            for name in value:
                if name in seen:
                    raise schema_violation({tname: f"{name} is duplicated"})
                seen.add(name)
            out[tname] = sorted(value)
        return out

    def _present(self, ent: Any, row: Row, now: float) -> Row:
        out = dict(row)
        out.pop(CACHE_KEY, None)
        if EXPIRE_AT in out:
            exp = out.pop(EXPIRE_AT)
            if exp is not None:
                out["ttl"] = max(0, math.floor(exp - now))
        return out

    async def _with_transient(self, tx: Any, ent: Any, row: Row) -> Row:
        for tname in ent.transient_fields:
            child, fk, key = self._transient_child(ent, tname)
            rows = await tx.find_all(child, fk, {"id": row["id"]})
            row[tname] = sorted(r[key] for r in rows)
        return row

    # -- checks ---------------------------------------------------------------
    async def _check_foreign(self, tx: Any, ent: Any, row: Row) -> None:
        for fname, f in ent.foreign_fields().items():
            value = row.get(fname)
            if not isinstance(value, dict) or value.get("id") is None:
                continue
            parent = self.registry.get(f.reference)
            if await tx.get(parent, value["id"]) is None:
                raise ForeignKeyViolation(
                    f"the foreign key '{{id=\"{value['id']}\"}}' does not reference an existing "
                    f"'{f.reference}' entity.",
                    {fname: {"id": value["id"]}},
                )

    async def _check_unique(self, tx: Any, ent: Any, row: Row) -> None:
        for fname in ent.unique_fields():
            if fname == ent.primary_key:
                continue
            value = row.get(fname)
            if value is None:
                continue
            other = await tx.find(ent, fname, value)
            if other is not None and other["id"] != row["id"]:
                raise UniqueViolation(
                    f"UNIQUE violation detected on '{{{fname}={lua_literal(value)}}}'",
                    {fname: value},
                )
        if ent.cache_key:
            other = await tx.find(ent, CACHE_KEY, row[CACHE_KEY])
            if other is not None and other["id"] != row["id"]:
                key = {k: row.get(k) for k in ent.cache_key}
                raise UniqueViolation(f"UNIQUE violation detected on '{lua_literal(key)}'", key)

    @staticmethod
    def cache_key_value(ent: Any, row: Row) -> str:
        """The stored composite key of ``row`` (entity name + cache_key values)."""
        parts: list[Any] = [ent.name]
        for k in ent.cache_key:
            v = row.get(k)
            parts.append(v.get("id") if isinstance(v, dict) else v)
        return json.dumps(parts, separators=(",", ":"))

    async def _prepare(self, tx: Any, ent: Any, row: Row, existing: Row | None = None) -> Row:
        for transform in ent.transformations:
            if getattr(transform, "with_existing", False):
                row = await transform(row, self, existing)
            else:
                row = await transform(row, self)
        ent.validate(row)
        fields = ent.fields_for(row)
        row = {k: row.get(k) for k in fields}  # declaration order, as the SQL backends return it
        if ent.cache_key:
            row[CACHE_KEY] = self.cache_key_value(ent, row)
        return row

    async def _check_transient_free(
        self, tx: Any, ent: Any, owner_id: str, transient: dict[str, list[str]]
    ) -> None:
        for tname, names in transient.items():
            child, fk, key = self._transient_child(ent, tname)
            for name in names:
                other = await tx.find(child, key, name)
                if other is not None and (other.get(fk) or {}).get("id") != owner_id:
                    raise schema_violation(
                        {
                            tname: f"{name} already associated with existing certificate '{other[fk]['id']}'"
                        }
                    )

    async def _write_transient(
        self, tx: Any, ent: Any, owner_id: str, transient: dict[str, list[str]]
    ) -> None:
        for tname, names in transient.items():
            child, fk, key = self._transient_child(ent, tname)
            current = {r[key]: r for r in await tx.find_all(child, fk, {"id": owner_id})}
            for name, r in current.items():
                if name not in names:
                    await self._delete_in_tx(tx, child, r["id"], r)
            for name in names:
                if name not in current:
                    await self._insert_in_tx(tx, child, {key: name, fk: {"id": owner_id}}, None)

    # -- writes (inside a transaction) ---------------------------------------
    async def _insert_in_tx(self, tx: Any, ent: Any, data: dict[str, Any], ttl: int | None) -> Row:
        transient = self._pop_transient(ent, data)
        row = ent.fill_defaults(ent.process_input(data, "insert"), tx.now)
        row = await self._prepare(tx, ent, row)
        if ent.ttl:
            await tx.purge_expired(ent)
            row[EXPIRE_AT] = tx.now + ttl if ttl else None
        if await tx.get(ent, row["id"]) is not None:
            raise PrimaryKeyViolation(
                f"primary key violation on key '{{id=\"{row['id']}\"}}'", {"id": row["id"]}
            )
        await self._check_foreign(tx, ent, row)
        await self._check_unique(tx, ent, row)
        await self._check_transient_free(tx, ent, row["id"], transient)
        await tx.insert(ent, row)
        out = self._present(ent, row, tx.now)
        for tname in ent.transient_fields:
            out[tname] = transient.get(tname, [])
        tx.events.append(ChangeEvent(ent.name, CREATE, row["id"], out))
        await self._write_transient(tx, ent, row["id"], transient)
        return out

    async def _replace_in_tx(
        self,
        tx: Any,
        ent: Any,
        existing: Row,
        row: Row,
        ttl: int | None,
        keep_ttl: bool,
        transient: dict[str, list[str]],
    ) -> Row:
        row = await self._prepare(tx, ent, row, existing)
        if ent.ttl:
            await tx.purge_expired(ent)
            row[EXPIRE_AT] = (
                tx.now + ttl if ttl else (existing.get(EXPIRE_AT) if keep_ttl else None)
            )
        await self._check_foreign(tx, ent, row)
        await self._check_unique(tx, ent, row)
        await self._check_transient_free(tx, ent, row["id"], transient)
        await tx.update(ent, row)
        before = await self._with_transient(tx, ent, self._present(ent, existing, tx.now))
        await self._write_transient(tx, ent, row["id"], transient)
        out = await self._with_transient(tx, ent, self._present(ent, row, tx.now))
        tx.events.append(ChangeEvent(ent.name, UPDATE, row["id"], out, before))
        return out

    async def _delete_in_tx(self, tx: Any, ent: Any, id: str, old: Row | None = None) -> None:
        transient = set(ent.transient_fields)
        for child, fname, on_delete in self._referrers(ent.name):
            if child.ttl:
                await tx.purge_expired(child)
            children = await tx.find_all(child, fname, {"id": id})
            if not children:
                continue
            if on_delete != "cascade" and child.name not in transient:
                raise ForeignKeyViolation(
                    f"an existing '{child.name}' entity references this '{ent.name}' entity",
                    {"@referenced_by": child.name},
                )
            for c in children:
                await self._delete_in_tx(tx, child, c["id"], c)
        await tx.delete(ent, id)
        gone = self._present(ent, old, tx.now) if old is not None else None
        tx.events.append(ChangeEvent(ent.name, DELETE, id, None, gone))

    # -- one operation inside an open backend transaction ------------------------
    async def insert_in(self, tx: Any, entity: Any, data: dict[str, Any]) -> Row:
        """:meth:`insert` inside the backend transaction ``tx``."""
        ent = self._entity(entity)
        self._check_writable(ent, "create")
        data = dict(data)
        ttl = self._pop_ttl(ent, data)
        return await self._insert_in_tx(tx, ent, data, ttl)

    async def update_in(self, tx: Any, entity: Any, id: str, patch: dict[str, Any]) -> Row:
        """:meth:`update` inside the backend transaction ``tx``."""
        ent = self._entity(entity)
        self._check_writable(ent, "update")
        return await self._update_in_tx(tx, ent, id, patch)

    async def upsert_in(self, tx: Any, entity: Any, id: str, data: dict[str, Any]) -> Row:
        """:meth:`upsert` inside the backend transaction ``tx``."""
        ent = self._entity(entity)
        self._check_writable(ent, "create or update")
        return await self._upsert_in_tx(tx, ent, id, data)

    async def delete_in(self, tx: Any, entity: Any, id: str) -> None:
        """:meth:`delete` inside the backend transaction ``tx``."""
        await self._delete_if_present_in_tx(tx, self._entity(entity), id)

    async def select_in(self, tx: Any, entity: Any, id: str) -> Row | None:
        """:meth:`select` inside the backend transaction ``tx`` (its own writes seen)."""
        ent = self._entity(entity)
        row = await tx.get(ent, id)
        if row is None:
            return None
        return await self._with_transient(tx, ent, self._present(ent, row, tx.now))

    # -- public API -------------------------------------------------------------
    async def insert(self, entity: Any, data: dict[str, Any]) -> Row:
        """Insert Admin-API input ``data``; returns the stored row.

        :raises SchemaViolation, PrimaryKeyViolation, ForeignKeyViolation, UniqueViolation, InvalidOptions:
        """
        return await self._run(lambda tx: self.insert_in(tx, entity, data))

    async def update(self, entity: Any, id: str, patch: dict[str, Any]) -> Row:
        """PATCH the row ``id`` (records merged, arrays replaced).

        :raises NotFound: if there is no such row.
        """
        return await self._run(lambda tx: self.update_in(tx, entity, id, patch))

    async def _update_in_tx(self, tx: Any, ent: Any, id: str, patch: dict[str, Any]) -> Row:
        patch = dict(patch)
        ttl = self._pop_ttl(ent, patch)
        transient = self._pop_transient(ent, patch)
        patch.pop(ent.primary_key, None)
        existing = await tx.get(ent, id)
        if existing is None:
            raise NotFound(
                f"could not find the entity with primary key '{{id=\"{id}\"}}'", {"id": id}
            )
        visible = {k: v for k, v in existing.items() if k not in (CACHE_KEY, EXPIRE_AT)}
        processed = ent.process_input({**patch}, "update")
        merged = ent.merge_update(visible, processed)
        row = ent.fill_defaults(merged, tx.now)
        fields = ent.fields_for(row)
        for k, v in processed.items():  # an explicit null is not replaced by a default
            if v is None and k in fields and not fields[k].auto:
                row[k] = None
        return await self._replace_in_tx(tx, ent, existing, row, ttl, True, transient)

    async def upsert(self, entity: Any, id: str, data: dict[str, Any]) -> Row:
        """PUT: create or fully replace the row ``id`` (omitted fields reset to defaults)."""
        return await self._run(lambda tx: self.upsert_in(tx, entity, id, data))

    async def _upsert_in_tx(self, tx: Any, ent: Any, id: str, data: dict[str, Any]) -> Row:
        data = dict(data)
        ttl = self._pop_ttl(ent, data)
        data[ent.primary_key] = id
        existing = await tx.get(ent, id)
        if existing is None:
            return await self._insert_in_tx(tx, ent, dict(data), ttl)
        body = dict(data)
        transient = self._pop_transient(ent, body)
        row = ent.process_input(body, "upsert")
        if row.get("created_at") is None and "created_at" in ent.fields:
            row["created_at"] = existing.get("created_at")
        row = ent.fill_defaults(row, tx.now)
        return await self._replace_in_tx(tx, ent, existing, row, ttl, False, transient)

    async def delete(self, entity: Any, id: str) -> None:
        """Delete row ``id`` (absent: no-op), cascading per ``on_delete``.

        :raises ForeignKeyViolation: (code 4) when a restricting row references it.
        """
        await self._run(lambda tx: self.delete_in(tx, entity, id))

    async def _delete_if_present_in_tx(self, tx: Any, ent: Any, id: str) -> None:
        old = await tx.get(ent, id)
        if old is not None:
            self._check_writable(ent, "remove")
            await self._delete_in_tx(tx, ent, id, old)

    async def transaction(self, fn: Callable[[TxWrites], Awaitable[T]]) -> T:
        """Run ``await fn(writes)`` in ONE transaction: all of its writes or none.

        ``writes`` has ``insert``/``update``/``upsert``/``delete``/``select`` as on the DAO;
        an exception from ``fn`` rolls every write back. Change events fire
        after the commit.
        """
        return await self._run(lambda tx: fn(TxWrites(self, tx)))

    async def select(self, entity: Any, id: str) -> Row | None:
        """Return row ``id`` or None."""
        return await self._run(lambda tx: self.select_in(tx, entity, id), write=False)

    async def select_by_field(self, entity: Any, field: str, value: Any) -> Row | None:
        """Return the row whose (unique) ``field`` equals ``value``, or None."""
        ent = self._entity(entity)

        async def work(tx: Any) -> Row | None:
            row = await tx.find(ent, field, value)
            return (
                None
                if row is None
                else await self._with_transient(tx, ent, self._present(ent, row, tx.now))
            )

        return await self._run(work, write=False)

    async def select_all_by(self, entity: Any, field: str, value: Any) -> list[Row]:
        """Every row whose ``field`` equals ``value`` (a foreign key: the parent's id), in id order.

        One indexed query (foreign keys and unique fields are indexed): what the
        entity cache runs for a miss such as "the ACL groups of consumer X".
        """
        ent = self._entity(entity)
        if field in ent.foreign_fields() and not isinstance(value, dict):
            value = {"id": value}

        async def work(tx: Any) -> list[Row]:
            rows = await tx.find_all(ent, field, value)
            return [
                await self._with_transient(tx, ent, self._present(ent, r, tx.now)) for r in rows
            ]

        return await self._run(work, write=False)

    async def select_by_key(self, entity: Any, id_or_key: str) -> Row | None:
        """A UUID selects by id, anything else by the endpoint key.

        Entities without an endpoint key but with a transient child
        (certificates) resolve the key through the child (an SNI name).
        """
        ent = self._entity(entity)
        if is_uuid(id_or_key):
            return await self.select(ent, id_or_key.lower())
        if ent.endpoint_key:
            return await self.select_by_field(ent, ent.endpoint_key, id_or_key)
        for tname in ent.transient_fields:
            child, fk, key = self._transient_child(ent, tname)
            owner = await self.select_by_field(child, key, id_or_key)
            if owner is not None and owner.get(fk):
                return await self.select(ent, owner[fk]["id"])
        return None

    async def page(
        self,
        entity: Any,
        size: Any = 100,
        offset: str | None = None,
        tags: list[str] | None = None,
        tags_cond: str = "and",
        foreign: tuple[str, str] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> Page:
        """Return one page of rows ordered by id.

        :raises InvalidSize: size not an integer in 1..1000.
        :raises InvalidOffset: bad token.
        """
        ent = self._entity(entity)
        if isinstance(size, str):
            try:
                size = int(size)
            except ValueError:
                raise InvalidSize("size must be a number") from None
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1000:
            raise InvalidSize("size must be an integer between 1 and 1000")
        after = decode_offset(offset) if offset else None
        where = {k: v for k, v in (filters or {}).items() if k in ent.fields}
        if foreign is not None:
            where[foreign[0]] = {"id": foreign[1]}
        cond = "or" if tags_cond == "or" else "and"

        async def work(tx: Any) -> Page:
            rows = await tx.page(ent, size + 1, after, list(tags) if tags else None, cond, where)
            token = encode_offset(rows[size - 1]["id"]) if len(rows) > size else None
            out = [
                await self._with_transient(tx, ent, self._present(ent, r, tx.now))
                for r in rows[:size]
            ]
            return Page(out, token)

        return await self._run(work, write=False)

    async def load_all(self, only: Iterable[str] | None = None) -> dict[str, list[Row]]:
        """Every live row of every registered entity (or of the entities named in ``only``),
        read in one transaction."""
        entities = list(self.registry.all())
        if only is not None:
            wanted = set(only)
            entities = [e for e in entities if e.name in wanted]

        async def work(tx: Any) -> dict[str, list[Row]]:
            out: dict[str, list[Row]] = {}
            for ent in entities:
                out[ent.name] = [self._present(ent, r, tx.now) for r in await tx.all(ent)]
            for ent in entities:
                for tname in ent.transient_fields:
                    child, fk, key = self._transient_child(ent, tname)
                    names: dict[str, list[str]] = {}
                    child_rows = out.get(child.name)
                    if child_rows is None:
                        child_rows = await tx.all(child)
                    for r in child_rows:
                        if r.get(fk):
                            names.setdefault(r[fk]["id"], []).append(r[key])
                    for row in out[ent.name]:
                        row[tname] = sorted(names.get(row["id"], []))
            return out

        return await self._run(work, write=False)

    async def ping(self) -> None:
        """Raise (e.g. DatabaseUnavailable) if the backend cannot be used."""
        await self.backend.ping()

    def add_closer(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` on :meth:`close` (cluster listener, timers)."""
        self._closers.append(fn)

    async def close(self) -> None:
        """Stop background work and release the backend."""
        for fn in reversed(self._closers):
            fn()
        self._closers.clear()
        await self.backend.close()


class TxWrites:
    """The DAO's writes inside one open transaction (see :meth:`DAO.transaction`)."""

    def __init__(self, dao: DAO, tx: Any) -> None:
        self._dao = dao
        self._tx = tx

    async def insert(self, entity: Any, data: dict[str, Any]) -> Row:
        """As :meth:`DAO.insert`."""
        return await self._dao.insert_in(self._tx, entity, data)

    async def update(self, entity: Any, id: str, patch: dict[str, Any]) -> Row:
        """As :meth:`DAO.update`."""
        return await self._dao.update_in(self._tx, entity, id, patch)

    async def upsert(self, entity: Any, id: str, data: dict[str, Any]) -> Row:
        """As :meth:`DAO.upsert`."""
        return await self._dao.upsert_in(self._tx, entity, id, data)

    async def delete(self, entity: Any, id: str) -> None:
        """As :meth:`DAO.delete`."""
        await self._dao.delete_in(self._tx, entity, id)

    async def select(self, entity: Any, id: str) -> Row | None:
        """Row ``id`` as this transaction sees it, or None."""
        return await self._dao.select_in(self._tx, entity, id)


def _shielded(inner: Deferred[Any]) -> Deferred[Any]:
    """A Deferred with ``inner``'s result whose cancellation leaves ``inner`` running.

    Cancelled, it fails with ``CancelledError`` at once; ``inner`` goes on, and a failure
    it ends with later is logged rather than left unhandled.
    """
    outer: Deferred[Any] = Deferred(lambda _: None)

    def settle(result: Any) -> None:
        if not outer.called:
            outer.callback(result)
        elif isinstance(result, Failure):
            _log.failure("store transaction failed after its caller gave up", result)

    inner.addBoth(settle)
    return outer
