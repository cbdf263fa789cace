"""Who is calling: the principal of a request (user and tenant, or API key, its creator and tenant) in one query.

Every authenticated request pays this before its own work, so it is kept to one round trip and no ORM compilation:
the SQL of each lookup is built once per process from the models' fields (a primary-key or unique-hash lookup
joined to the tenant), and the rows become model instances through the fields' own database converters, with the
tenant already attached (`user.tenant` costs no second query). A JWT's lookup also answers whether the token's
session (`sid`) has ended (logout, password change): the session row is the truth, read in the same statement.
There is deliberately no cache in front of it: the database row is the truth, so a key revoked, a user deactivated,
a session ended or a tenant suspended or moved to another plan — through a service or a bare UPDATE — is seen by the
very next request, and plan features and limits are read from the same tenant row.

The lookup is also the request's connection health check. With persistent connections (`CONN_MAX_AGE`) and
`CONN_HEALTH_CHECKS`, Django sends a `SELECT 1` before a request's first query to find a connection the server
closed meanwhile; that is a second round trip on every authenticated request. Here the lookup itself is the check:
it runs on the reused connection and, when that connection turns out dead (a PostgreSQL restart, an idle timeout),
the connection is closed and the lookup runs once more on a new one — what Django's check would have done, without
the extra round trip when the connection is alive (every other request).
"""
from __future__ import annotations

from functools import cache

from django.db import InterfaceError, OperationalError, connections

from stratum.api.db import field_converters, values_convert

from .models import ApiKey, LoginSession, Tenant, User


def _fields(model) -> list:
    return list(model._meta.concrete_fields)


def _select(alias: str, model) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in _fields(model))


@cache
def _statements() -> dict[str, str]:
    user, tenant, key = User._meta.db_table, Tenant._meta.db_table, ApiKey._meta.db_table
    session = LoginSession._meta.db_table
    return {
        "user": (f'SELECT {_select("u", User)}, {_select("t", Tenant)} FROM "{user}" u '
                 f'LEFT JOIN "{tenant}" t ON t."id" = u."tenant_id" WHERE u."id" = %s'),
        # … and whether the token's session has ended (the last column; false without a session id)
        "user_session": (f'SELECT {_select("u", User)}, {_select("t", Tenant)}, EXISTS (SELECT 1 FROM "{session}" s '
                         f'WHERE s."id" = %s AND s."revoked_at" IS NOT NULL) FROM "{user}" u '
                         f'LEFT JOIN "{tenant}" t ON t."id" = u."tenant_id" WHERE u."id" = %s'),
        "api_key": (f'SELECT {_select("k", ApiKey)}, {_select("u", User)}, {_select("t", Tenant)} FROM "{key}" k '
                    f'JOIN "{user}" u ON u."id" = k."created_by_id" JOIN "{tenant}" t ON t."id" = k."tenant_id" '
                    'WHERE k."key_hash" = %s'),
    }


@cache
def _converters(model) -> list[tuple[object, list]]:
    return field_converters(_fields(model), connections["default"])


def _instance(model, values) -> object | None:
    if values[0] is None:  # the LEFT JOIN found no row (a tenant-less staff user)
        return None
    converted = values_convert(values, _converters(model), connections["default"])
    return model.from_db("default", [f.attname for f in _fields(model)], converted)


def _fetch(connection, name: str, params: list) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(_statements()[name], params)
        return cursor.fetchone()


def _row(name: str, params: list) -> tuple | None:
    """The statement's one row; on a reused connection it doubles as Django's health check (module docstring)."""
    connection = connections["default"]
    if (connection.connection is None or not connection.health_check_enabled or connection.health_check_done
            or connection.in_atomic_block):
        return _fetch(connection, name, params)  # a new connection, no checks, or one already checked
    connection.health_check_done = True  # this statement is the check: no `SELECT 1` before it
    try:
        return _fetch(connection, name, params)
    except (OperationalError, InterfaceError):
        if connection.is_usable():
            raise  # the connection is fine: the statement itself failed
        connection.close()  # the server closed it meanwhile: reconnect once, as the health check would have
        return _fetch(connection, name, params)


def user_principal_get(*, user_id, session_id=None) -> tuple[User | None, bool]:
    """The user with their tenant attached, and whether the session `session_id` (a JWT's `sid`) has ended — in one
    query. (None, False) when there is no such user."""
    connection = connections["default"]
    pk = User._meta.pk.get_db_prep_value(user_id, connection)  # a UUID on PostgreSQL, hex on SQLite
    if session_id is None:
        row, ended = _row("user", [pk]), False
    else:
        sid = LoginSession._meta.pk.get_db_prep_value(session_id, connection)
        row = _row("user_session", [sid, pk])
        if row is not None:
            row, ended = row[:-1], bool(row[-1])
    if row is None:
        return None, False
    n = len(_fields(User))
    user, tenant = _instance(User, row[:n]), _instance(Tenant, row[n:])
    user._state.fields_cache["tenant"] = tenant
    return user, ended


def api_key_principal_get(*, key_hash: str) -> ApiKey | None:
    """The API key with its creator and tenant attached (the creator's tenant too), in one query."""
    row = _row("api_key", [key_hash])
    if row is None:
        return None
    k, u = len(_fields(ApiKey)), len(_fields(User))
    key, user, tenant = _instance(ApiKey, row[:k]), _instance(User, row[k:k + u]), _instance(Tenant, row[k + u:])
    key._state.fields_cache["tenant"] = tenant
    key._state.fields_cache["created_by"] = user
    if user.tenant_id == tenant.pk:
        user._state.fields_cache["tenant"] = tenant
    return key
