# RADIUS at scale (issue 12, docs/tuning.md): real FreeRADIUS rendered by roles/freeradius and
# PostgreSQL with production durability, 50,000 users provisioned by the reconcile, load from
# tools/radload. Prints each floor next to the measured figure; exits non-zero when one is
# missed. Like make test it installs the Debian packages it needs first (lab-deps: FreeRADIUS,
# PostgreSQL 15, nginx, wrk). Extra options: BENCH_RADIUS_ARGS="--users 20000 --profile"
# (bench/radius_load.py -h).
BENCH_RADIUS_ARGS ?=

.PHONY: bench-radius

## bench-radius: RADIUS logins and accounting at scale against their floors (about 5 min, root)
bench-radius: lab-deps venv
	$(BIN)/python bench/radius_load.py $(BENCH_RADIUS_ARGS)

# A one-hour PostgreSQL outage at 50,000 users (600,000 Interim-Updates in the buffer), then
# the replay, FreeRADIUS restarted half-way (bench/radius_backlog.py -h). Exits non-zero when
# the drain is under 5x the steady rate or a record is lost or counted twice.
BENCH_BACKLOG_ARGS ?=

.PHONY: bench-backlog

## bench-backlog: the accounting backlog of a one-hour outage at 50,000 users (about 20 min, root)
bench-backlog: lab-deps venv
	$(BIN)/python bench/radius_backlog.py $(BENCH_BACKLOG_ARGS)

# Guessing codes through the deployed RADIUS path (issue 23, bench/guess_bench.py -h): an
# attacker at full speed from one NAS (one MAC, then a new MAC per guess) against the default
# throttle; the guesses that reach a code lookup, the expected time to find a code of a
# 300-card batch (floor: more than 10 years) and among 200,000, and the throttle's cost on a
# normal login. Also run by make bench.
BENCH_GUESS_ARGS ?=

.PHONY: bench-guess

## bench-guess: code guessing against the FreeRADIUS throttle, and its floor (about 12 min, root)
bench-guess: lab-deps venv
	$(BIN)/python bench/guess_bench.py $(BENCH_GUESS_ARGS)

# The portal's cold start (issue 27, bench/portal_cold_bench.py -h): 1,000 distinct students
# log in at once through nginx + TLS (roles/portal's site template and portal.toml settings,
# FreeRADIUS checking sha512-crypt), then /me at 10 connections from the first second; prints
# the first second's p50/p99, the worst second's, the warm run's and /healthz's next to the
# floor (p99 under 50 ms from the first second), and exits non-zero when it is missed. Also
# run by make bench.
BENCH_PORTAL_COLD_ARGS ?=

.PHONY: bench-portal-cold

## bench-portal-cold: the student page from the first second after 1,000 logins (about 4 min, root)
bench-portal-cold: lab-deps venv
	$(BIN)/python bench/portal_cold_bench.py $(BENCH_PORTAL_COLD_ARGS)

# False failovers of the HA lab (issue 28, bench/ha_stability.py -h): nothing crashed, the
# router's probe at 50 logins/s and 50 accounting records/s and CPU burnt on each database
# host, Patroni's timing as the lab runs it; prints the leader changes against the floor
# (none). Needs the running HA lab (make lab-ha).
BENCH_HA_STABILITY_ARGS ?=

.PHONY: bench-ha-stability

## bench-ha-stability: failovers nobody asked for on the running HA lab (10 min by default, root)
bench-ha-stability: venv
	$(BIN)/python bench/ha_stability.py $(BENCH_HA_STABILITY_ARGS)
