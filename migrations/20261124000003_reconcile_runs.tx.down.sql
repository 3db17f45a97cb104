DROP TABLE IF EXISTS reconcile_runs;
