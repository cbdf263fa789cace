"""Who is calling: the principal of a request (user and tenant, or API key, its creator and tenant) in one query.

Every authenticated request pays this before its own work, so it is kept to one round trip and no ORM compilation:
the SQL of each lookup is built once per process from the models' fields (a primary-key or unique-hash lookup
joined to the tenant), and the rows become model instances through the fields' own database converters, with the
tenant already attached (`user.tenant` costs no second query). There is deliberately no cache in front of it: the
database row is the truth, so a key revoked, a user deactivated or a tenant suspended or moved to another plan —
through a service or a bare UPDATE — is seen by the very next request, and plan features and limits are read from
the same tenant row.
"""
from __future__ import annotations

from functools import cache

from django.db import connections

from stratum.api.db import field_converters, values_convert

from .models import ApiKey, Tenant, User


def _fields(model) -> list:
    return list(model._meta.concrete_fields)


def _select(alias: str, model) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in _fields(model))


@cache
def _statements() -> dict[str, str]:
    user, tenant, key = User._meta.db_table, Tenant._meta.db_table, ApiKey._meta.db_table
    return {
        "user": (f'SELECT {_select("u", User)}, {_select("t", Tenant)} FROM "{user}" u '
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


def _row(name: str, param) -> tuple | None:
    with connections["default"].cursor() as cursor:
        cursor.execute(_statements()[name], [param])
        return cursor.fetchone()


def user_principal_get(*, user_id) -> User | None:
    """The user with their tenant attached, in one query; None when there is no such user."""
    connection = connections["default"]
    row = _row("user", User._meta.pk.get_db_prep_value(user_id, connection))  # a UUID on PostgreSQL, hex on SQLite
    if row is None:
        return None
    n = len(_fields(User))
    user, tenant = _instance(User, row[:n]), _instance(Tenant, row[n:])
    user._state.fields_cache["tenant"] = tenant
    return user


def api_key_principal_get(*, key_hash: str) -> ApiKey | None:
    """The API key with its creator and tenant attached (the creator's tenant too), in one query."""
    row = _row("api_key", key_hash)
    if row is None:
        return None
    k, u = len(_fields(ApiKey)), len(_fields(User))
    key, user, tenant = _instance(ApiKey, row[:k]), _instance(User, row[k:k + u]), _instance(Tenant, row[k + u:])
    key._state.fields_cache["tenant"] = tenant
    key._state.fields_cache["created_by"] = user
    if user.tenant_id == tenant.pk:
        user._state.fields_cache["tenant"] = tenant
    return key
