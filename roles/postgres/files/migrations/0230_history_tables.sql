-- The history tables partitioned by month, as a type: the retention job names the table it
-- works on, and the partition functions (54_history_partitions.sql), which run as the
-- tables' owner, accept no other table (docs/postgres.md, "Accounting history").
CREATE DOMAIN captiva_history_table AS text
    CHECK (VALUE IN ('radacct_history', 'radpostauth_history'));
