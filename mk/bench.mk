# RADIUS at scale (issue 12, docs/tuning.md): real FreeRADIUS rendered by roles/freeradius and
# PostgreSQL with production durability, 50,000 users provisioned by the reconcile, load from
# tools/radload. Prints each floor next to the measured figure; exits non-zero when one is
# missed. Extra options: BENCH_RADIUS_ARGS="--users 20000 --profile" (bench/radius_load.py -h).
BENCH_RADIUS_ARGS ?=

.PHONY: bench-radius

## bench-radius: RADIUS logins and accounting at scale against their floors (about 5 min, root)
bench-radius: venv
	$(BIN)/python bench/radius_load.py $(BENCH_RADIUS_ARGS)
