-- The partitioned radacct_history of 0130 without its primary key, so that the documented
-- restore (docs/postgres.md "Restore": pg_restore --clean --if-exists --single-transaction)
-- works: pg_restore 15 drops each partition's inherited primary-key constraint on its own
-- ("cannot drop inherited constraint"), which aborts the restore, while a partitioned table's
-- plain indexes are dropped with the table's. No reader needs radacctid to be unique in the
-- history (it was only the key of the purge's batches, which partitions replaced), and every
-- archived row keeps a stop time, now as a plain NOT NULL.
ALTER TABLE radacct_history DROP CONSTRAINT radacct_history_pkey;
ALTER TABLE radacct_history ALTER COLUMN acctstoptime SET NOT NULL;
