-- Nothing to undo: the up migration only restored the schema's own name.
SELECT 1;
