-- A rebuild before this version named the rebuilt memberships table's
-- index after its column (CREATE TABLE ... LIKE names copied indexes so)
-- and kept that name on the live table: memberships_user became
-- memberships_user_id_idx. Give it back the name the schema gave it, so
-- that later migrations find it; rebuilds now keep every index's name.
DO $$
BEGIN
    IF to_regclass('memberships_user_id_idx') IS NOT NULL AND to_regclass('memberships_user') IS NULL THEN
        ALTER INDEX memberships_user_id_idx RENAME TO memberships_user;
    END IF;
END
$$;
