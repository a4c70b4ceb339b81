-- The guessing throttle counts failures when they happen again (functions/45_guess_throttle.sql),
-- not every code login at its check (migration 0152): that made the limits exact under a
-- flood, but cost every voucher login two writes and, on a busy NAS, index scans over the
-- attempts taken back (about 1 ms of CPU a login under load, bench/guess_bench.py), where a
-- read costs 0.1 ms; the flood's overshoot is bounded by the requests in flight.
ALTER TABLE captiva_guess_failure DROP COLUMN id;
