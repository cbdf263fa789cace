"""The database refuses to change the trust audit log.

PostgreSQL: UPDATE is always refused; DELETE only succeeds inside a transaction that deletes the tenant itself
(trust.apps sets `stratum.audit_purge` with SET LOCAL in Tenant's pre_delete). TRUNCATE (test flushes) is not a
row operation and is not affected.
SQLite: UPDATE is refused. DELETE is left to the ORM guard, because SQLite's flush between transactional
tests deletes rows one table at a time.
"""
from django.db import migrations

TABLE = "trust_auditlogentry"

POSTGRES_UP = [f"""
CREATE OR REPLACE FUNCTION trust_audit_log_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('stratum.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'The trust audit log is append-only (% refused).', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
""", f"""
CREATE TRIGGER trust_audit_log_guard BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION trust_audit_log_guard()
"""]
POSTGRES_DOWN = [f"DROP TRIGGER IF EXISTS trust_audit_log_guard ON {TABLE}",
                 "DROP FUNCTION IF EXISTS trust_audit_log_guard()"]
SQLITE_UP = [f"""
CREATE TRIGGER trust_audit_log_no_update BEFORE UPDATE ON {TABLE}
BEGIN
    SELECT RAISE(ABORT, 'The trust audit log is append-only (UPDATE refused).');
END
"""]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS trust_audit_log_no_update"]


def _run(sql_by_vendor):
    def apply(apps, schema_editor):
        for statement in sql_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement, params=None)
    return apply


class Migration(migrations.Migration):
    dependencies = [("trust", "0001_initial")]

    operations = [
        migrations.RunPython(_run({"postgresql": POSTGRES_UP, "sqlite": SQLITE_UP}),
                             _run({"postgresql": POSTGRES_DOWN, "sqlite": SQLITE_DOWN})),
    ]
