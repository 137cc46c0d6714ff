-- org_imports.template kept env values in clear. From now on they are sealed with the platform key
-- (activities/template-snapshot.ts). SQL cannot encrypt (the key is not in the database), so existing
-- rows are marked format 1 and the worker seals them at start (sealLegacySnapshots); new rows are format 2.
ALTER TABLE org_imports ADD COLUMN snapshot_format smallint NOT NULL DEFAULT 1 CHECK (snapshot_format IN (1, 2));
