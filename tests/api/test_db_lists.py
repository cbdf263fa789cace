"""The kernel's list plumbing for hot paths: `field__any` (one array parameter on PostgreSQL) and `rows_source`
(a WITH-clause row set) give the same rows as `__in` and VALUES on both databases."""
import datetime as dt
import uuid

import pytest
from django.db import connection

from cdp.models import Profile
from stratum.api.db import rows_source
from tests.cdp.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def test_any_matches_in_for_ids_foreign_keys_and_text():
    profiles = ProfileFactory.create_batch(4)
    loser = ProfileFactory(tenant=profiles[0].tenant, merged_into=profiles[0])
    wanted = [profiles[0].pk, profiles[2].pk, uuid.uuid4()]
    assert set(Profile.objects.unscoped().filter(pk__any=wanted)) == {profiles[0], profiles[2]}
    assert set(Profile.objects.unscoped().filter(pk__any=wanted)) == set(Profile.objects.unscoped().filter(pk__in=wanted))
    assert list(Profile.objects.unscoped().filter(merged_into__any=[profiles[0].pk])) == [loser]
    assert list(Profile.objects.unscoped().filter(merged_into_id__any=[profiles[0].pk])) == [loser]
    assert list(Profile.objects.unscoped().filter(email__any=[profiles[1].email, "nobody@x.example"])) == [profiles[1]]


def test_any_of_nothing_is_nothing():
    ProfileFactory()
    assert list(Profile.objects.unscoped().filter(pk__any=[])) == []
    assert Profile.objects.unscoped().exclude(pk__any=[]).count() == 1


def test_rows_source_yields_the_rows_typed():
    when = dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC)
    ids = [uuid.uuid4(), uuid.uuid4()]
    prep = Profile._meta.pk.get_db_prep_value
    source, params = rows_source("v", [("id", "uuid"), ("n", "integer"), ("amount", "numeric"), ("at", "timestamptz")],
                                 [[prep(ids[0], connection), 3, "19.99", connection.ops.adapt_datetimefield_value(when)],
                                  [prep(ids[1], connection), 0, "0", None]])
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {source} SELECT n, amount, at FROM v ORDER BY n DESC", params)
        rows = cursor.fetchall()
    assert [(row[0], str(row[1])) for row in rows] == [(3, "19.99"), (0, "0")]
    assert rows[1][2] is None and rows[0][2] is not None
    if connection.vendor == "postgresql":
        assert len(params) == 4  # one array per column, whatever the row count


AWKWARD = ['say "hi"', "back\\slash", "a,b", "{braces}", "NULL", "", " padded ", "ünïcode ✓", "tab\there"]


def test_rows_source_and_any_keep_awkward_text_exactly():
    """Arrays go to PostgreSQL as one literal (pg_array): quotes, backslashes, commas, braces, the word NULL, empty
    and padded strings come back as they were, beside real NULLs, ids, numbers and times."""
    when = dt.datetime(2026, 1, 15, 10, 30, 0, 123456, tzinfo=dt.UTC)
    ids = [uuid.uuid4() for _ in AWKWARD]
    prep = Profile._meta.pk.get_db_prep_value
    rows = [[prep(pk, connection), n, text, connection.ops.adapt_datetimefield_value(when)]
            for n, (pk, text) in enumerate(zip(ids, AWKWARD, strict=True))]
    rows.append([prep(uuid.uuid4(), connection), len(AWKWARD), None, None])
    source, params = rows_source("v", [("id", "uuid"), ("n", "integer"), ("label", "text"), ("at", "timestamptz")],
                                 rows)
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {source} SELECT id, n, label, at FROM v ORDER BY n", params)
        got = cursor.fetchall()
    assert [row[2] for row in got] == [*AWKWARD, None]
    assert [str(row[0]).replace("-", "") for row in got[:-1]] == [pk.hex for pk in ids]
    assert [row[1] for row in got] == list(range(len(AWKWARD) + 1))
    assert got[-1][3] is None
    if connection.vendor == "postgresql":  # SQLite hands times back as text
        assert {row[3] for row in got[:-1]} == {when}
    profiles = [ProfileFactory(email=text) for text in AWKWARD[:4]]
    found = Profile.objects.unscoped().filter(email__any=[*AWKWARD, "nobody"])
    assert sorted(p.email for p in found) == sorted(AWKWARD[:4])
    assert set(Profile.objects.unscoped().filter(pk__any=[profiles[0].pk, uuid.uuid4()])) == {profiles[0]}
