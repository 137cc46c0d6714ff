-- Issue #19: after starting a workspace's container, a provision looked for containers of the same
-- workspace under another name (left by the release that named them `ws-<first 12 chars>`), through a
-- label listing that makes the engine walk every container it has: at fleet scale the most expensive
-- engine call of a provision, once per provision. Only rows that existed before this column can have
-- such a container (every release since full-id names has used containerName() alone), so they are
-- marked, new rows are not, and a provision whose lookup ran clears the mark: each workspace is looked
-- at once. Adding the column with DEFAULT true marks every existing row; new rows then default to false.
ALTER TABLE workspaces ADD COLUMN may_have_older_container_names boolean NOT NULL DEFAULT true;
ALTER TABLE workspaces ALTER COLUMN may_have_older_container_names SET DEFAULT false;
