-- The guessing throttle counts a code login when it is checked, not when it has failed
-- (functions/45_guess_throttle.sql): the check and the count are one step under a lock per
-- NAS, so a flood of parallel guesses cannot pass the check together before their failures
-- are recorded. A row is then an attempt, taken back (deleted by its id) when the code
-- turned out to exist; what stays are the failures.
ALTER TABLE captiva_guess_failure ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE captiva_guess_failure ADD PRIMARY KEY (id);
