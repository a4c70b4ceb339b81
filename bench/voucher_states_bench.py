"""The admins' voucher counts (captiva_voucher_states) at scale, against the function it
replaced, in the same process on the same database. Also one code's login judgement, old
and new.

    .venv/bin/python bench/voucher_states_bench.py [--codes 100000] [--used 20000] [--calls 400]

PostgreSQL 15 with roles/postgres's settings (bench/radius_load.py), migrated, with ``--codes``
vouchers in batches of 10,000 (one batch already expired, one with a 24 h window instead of
a time credit). ``--used`` codes have a first use and a finished session in radacct: among
them 5 % have used up their time, 5 % their data, 2.5 % are revoked and 2.5 % have an open
session. 2,000 students have a session each too.

Baseline: ``captiva_voucher_states`` and ``captiva_voucher_judge`` as they were before the
rule became set-based (commit 648ee5e: one ``captiva_voucher_judge`` call per code ever used,
one per batch for the untouched codes), created verbatim in the schema
``captiva_bench_baseline``. Both versions must return the same rows (used_seconds aside for
open sessions: the set-based one counts them up to now, as the login does); the bench fails
otherwise. Target: the counts under 1 s at 100,000 codes, 20,000 used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import radius_load  # noqa: E402  (sets up sys.path for the test fixtures)
from pg_fixtures import radius_database  # noqa: E402

ALPHABET = "23456789ACEFHJKMNPRTWXY"
PER_BATCH = 10_000
NAS = "10.20.0.1"
TARGET_S = 1.0

BASELINE_SQL = """
CREATE SCHEMA captiva_bench_baseline;
CREATE FUNCTION captiva_bench_baseline.captiva_voucher_judge(
    p_code text, p_nas inet, p_at timestamptz, p_login boolean
) RETURNS TABLE (reason text, message text, remaining_bytes bigint, seconds_left bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = captiva_bench_baseline, pg_catalog, public, pg_temp AS $$
DECLARE
    b record;
    first_use timestamptz;
    window_end timestamptz;
    used record;
    tz text;
    left_seconds bigint;
BEGIN
    SELECT vb.* INTO b
    FROM captiva_voucher AS v JOIN captiva_voucher_batch AS vb ON vb.name = v.batch
    WHERE v.code = p_code;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- Dates are shown in the timezone of the router's site, else the campus default.
    SELECT s.timezone INTO tz
    FROM captiva_router AS r JOIN captiva_site AS s ON s.name = r.site
    WHERE r.nasipaddress = p_nas;
    tz := COALESCE(tz, (SELECT q.timezone FROM captiva_quota_settings AS q LIMIT 1), 'UTC');
    SELECT f.first_used_at INTO first_use
    FROM captiva_voucher_first_use AS f WHERE f.code = p_code;
    IF b.window_after_first_use IS NOT NULL THEN
        window_end := COALESCE(first_use, p_at)
                      + make_interval(secs => b.window_after_first_use);
    END IF;

    IF EXISTS (SELECT FROM captiva_voucher_revocation AS rv WHERE rv.code = p_code) THEN
        RETURN QUERY SELECT 'revoked', captiva_voucher_message(b.language,
            'Code révoqué', 'Code revoked'), 0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF p_at < b.starts_at THEN
        RETURN QUERY SELECT 'not-yet-valid', captiva_voucher_message(b.language,
            'Code pas encore valable (à partir du ' || captiva_voucher_time(b.starts_at, tz) || ')',
            'Code not valid yet (from ' || captiva_voucher_time(b.starts_at, tz) || ')'),
            0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF p_at >= LEAST(b.ends_at, window_end) THEN
        RETURN QUERY SELECT 'expired', captiva_voucher_message(b.language,
            'Code expiré le ' || captiva_voucher_time(LEAST(b.ends_at, window_end), tz),
            'Code expired on ' || captiva_voucher_time(LEAST(b.ends_at, window_end), tz)),
            0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF p_login AND b.sites <> '{}' AND NOT EXISTS (
        SELECT FROM captiva_router AS r WHERE r.nasipaddress = p_nas AND r.site = ANY (b.sites)
    ) THEN
        RETURN QUERY SELECT 'wrong-site', captiva_voucher_message(b.language,
            'Code non valable sur ce site', 'Code not valid on this site'), 0::bigint, 0::bigint;
        RETURN;
    END IF;

    SELECT count(*) FILTER (WHERE a.acctstoptime IS NULL) AS open_sessions,
           COALESCE(sum(CASE WHEN a.acctstoptime IS NULL
                             THEN GREATEST(COALESCE(a.acctsessiontime, 0),
                                           floor(extract(epoch FROM p_at - a.acctstarttime)))
                             ELSE COALESCE(a.acctsessiontime, 0) END), 0)::bigint AS seconds,
           COALESCE(sum(COALESCE(a.acctinputoctets, 0) + COALESCE(a.acctoutputoctets, 0)),
                    0)::bigint AS bytes
    INTO used
    FROM radacct AS a WHERE a.username = p_code;
    IF b.time_credit IS NOT NULL AND used.seconds >= b.time_credit THEN
        RETURN QUERY SELECT 'time-used', captiva_voucher_message(b.language,
            'Crédit de temps épuisé', 'Time credit used up'), 0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF b.data_cap IS NOT NULL AND used.bytes >= b.data_cap THEN
        RETURN QUERY SELECT 'data-used', captiva_voucher_message(b.language,
            'Données épuisées', 'Data allowance used up'), 0::bigint, 0::bigint;
        RETURN;
    END IF;
    IF p_login AND b.simultaneous_use IS NOT NULL AND used.open_sessions >= b.simultaneous_use
    THEN
        RETURN QUERY SELECT 'in-use', captiva_voucher_message(b.language,
            'Code déjà utilisé sur un autre appareil', 'Code already in use on another device'),
            0::bigint, 0::bigint;
        RETURN;
    END IF;

    left_seconds := floor(extract(epoch FROM LEAST(b.ends_at, window_end) - p_at))::bigint;
    IF b.time_credit IS NOT NULL THEN
        left_seconds := LEAST(left_seconds, b.time_credit - used.seconds);
    END IF;
    RETURN QUERY SELECT NULL::text, NULL::text,
        CASE WHEN b.data_cap IS NULL THEN NULL ELSE b.data_cap - used.bytes END,
        GREATEST(left_seconds, 1);
END
$$;

CREATE FUNCTION captiva_bench_baseline.captiva_voucher_states(p_at timestamptz DEFAULT now())
RETURNS TABLE (
    batch text, index integer, state text, reason text, first_used_at timestamptz,
    online integer, last_login_at timestamptz, used_seconds bigint, used_bytes bigint
) LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = captiva_bench_baseline, pg_catalog, public, pg_temp AS $$
    WITH touched AS MATERIALIZED (
        SELECT v.code, v.batch, v.index, f.first_used_at
        FROM captiva_voucher AS v
        LEFT JOIN captiva_voucher_first_use AS f ON f.code = v.code
        WHERE f.code IS NOT NULL
           OR EXISTS (SELECT FROM captiva_voucher_revocation AS r WHERE r.code = v.code)
           OR EXISTS (SELECT FROM radacct AS a WHERE a.username = v.code)
    ), usage AS (
        SELECT a.username,
               count(*) FILTER (WHERE a.acctstoptime IS NULL)::integer AS online,
               max(a.acctstarttime) AS last_login_at,
               COALESCE(sum(COALESCE(a.acctsessiontime, 0)), 0)::bigint AS seconds,
               COALESCE(sum(COALESCE(a.acctinputoctets, 0) + COALESCE(a.acctoutputoctets, 0)),
                        0)::bigint AS bytes
        FROM radacct AS a JOIN touched AS t ON t.code = a.username
        GROUP BY a.username
    ), stand_in AS MATERIALIZED (
        SELECT s.batch, j.reason
        FROM (SELECT DISTINCT ON (v.batch) v.batch, v.code
              FROM captiva_voucher AS v
              WHERE NOT EXISTS (SELECT FROM touched AS t WHERE t.code = v.code)
              ORDER BY v.batch, v.index) AS s
        CROSS JOIN LATERAL captiva_voucher_judge(s.code, NULL, p_at, false) AS j
    ), judged AS (
        SELECT t.batch, t.index, j.reason, t.first_used_at, COALESCE(u.online, 0) AS online,
               u.last_login_at, COALESCE(u.seconds, 0) AS seconds, COALESCE(u.bytes, 0) AS bytes
        FROM touched AS t
        CROSS JOIN LATERAL captiva_voucher_judge(t.code, NULL, p_at, false) AS j
        LEFT JOIN usage AS u ON u.username = t.code
        UNION ALL
        SELECT v.batch, v.index, s.reason, NULL, 0, NULL, 0, 0
        FROM captiva_voucher AS v JOIN stand_in AS s ON s.batch = v.batch
        WHERE NOT EXISTS (SELECT FROM touched AS t WHERE t.code = v.code)
    )
    SELECT batch, index,
           CASE WHEN reason = 'revoked' THEN 'revoked'
                WHEN reason = 'expired' THEN 'expired'
                WHEN reason IN ('time-used', 'data-used') THEN 'exhausted'
                WHEN first_used_at IS NOT NULL THEN 'in-use'
                ELSE 'unused' END,
           reason, first_used_at, online, last_login_at, seconds, bytes
    FROM judged
    ORDER BY batch, index
$$;
"""

COUNTS = "SELECT state, count(*) FROM {}.captiva_voucher_states(now()) GROUP BY state"
ROWS = "SELECT * FROM {}.captiva_voucher_states(%s) ORDER BY batch, index"
JUDGE = "SELECT * FROM {}.captiva_voucher_judge(%s, %s, now(), true)"


def code_of(n: int) -> str:
    """A distinct 10-character code in the table's alphabet (no check character needed)."""
    out = []
    for _ in range(10):
        n, digit = divmod(n, len(ALPHABET))
        out.append(ALPHABET[digit])
    return "".join(out)


def load(conn, codes: int, used: int) -> list[str]:
    """The vouchers, their uses and sessions; returns the codes, by batch and index."""
    now = dt.datetime.now(dt.UTC)
    batches = -(-codes // PER_BATCH)
    all_codes = [code_of(1_000_003 * n + 7) for n in range(codes)]
    with conn.transaction():
        with conn.cursor().copy(
                "COPY captiva_voucher_batch (name, profile, time_credit,"
                " window_after_first_use, data_cap, starts_at, ends_at, simultaneous_use,"
                " language, count) FROM STDIN") as copy:
            for b in range(batches):
                expired = b == batches - 1 and batches > 1
                window = b == 1
                copy.write_row((
                    f"batch-{b:02d}", "invite", None if window else 7200,
                    86400 if window else None, 2**30,
                    now - dt.timedelta(days=40 if expired else 1),
                    now - dt.timedelta(days=10) if expired else now + dt.timedelta(days=30),
                    1, "fr", min(PER_BATCH, codes - b * PER_BATCH)))
        with conn.cursor().copy("COPY captiva_voucher (code, batch, index) FROM STDIN") as copy:
            for n, code in enumerate(all_codes):
                copy.write_row((code, f"batch-{n // PER_BATCH:02d}", n % PER_BATCH + 1))
        # Spread the used codes over every batch.
        step = max(codes // used, 1)
        used_codes = all_codes[::step][:used]
        start = now - dt.timedelta(hours=3)
        with conn.cursor().copy(
                "COPY captiva_voucher_first_use (code, first_used_at, nasipaddress)"
                " FROM STDIN") as copy:
            for code in used_codes:
                copy.write_row((code, start, NAS))
        with conn.cursor().copy(
                "COPY radacct (acctsessionid, acctuniqueid, username, nasipaddress,"
                " acctstarttime, acctstoptime, acctsessiontime, acctinputoctets,"
                " acctoutputoctets) FROM STDIN") as copy:
            for i, code in enumerate(used_codes):
                kind = i % 40
                seconds = 7200 if kind in (0, 1) else 1800
                output = 2**30 if kind in (2, 3) else 50_000
                stop = None if kind == 5 else start + dt.timedelta(seconds=seconds)
                copy.write_row((f"v{i}", f"vu{i}", code, NAS, start, stop,
                                None if stop is None else seconds, 1000, output))
            for i in range(2000):
                copy.write_row((f"s{i}", f"su{i}", f"etu{i:05d}", NAS, start,
                                start + dt.timedelta(minutes=30), 1800, 1000, 50_000))
        with conn.cursor().copy(
                "COPY captiva_voucher_revocation (code, source, reason) FROM STDIN") as copy:
            for i, code in enumerate(used_codes):
                if i % 40 == 4:
                    copy.write_row((code, "urgent", "bench"))
        conn.execute(BASELINE_SQL)
    conn.execute("ANALYZE")
    return used_codes


def timed(conn, query: str, args=()) -> tuple[list, float]:
    started = time.perf_counter()
    rows = conn.execute(query, args).fetchall()
    return rows, time.perf_counter() - started


def comparable(row: tuple) -> tuple:
    """A states row without used_seconds of an open session (counted up to now by the new)."""
    batch, index, state, reason, first_used_at, online, last_login_at, seconds, used = row
    return (batch, index, state, reason, first_used_at, online, last_login_at,
            None if online else seconds, used)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codes", type=int, default=100_000)
    parser.add_argument("--used", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    with radius_load.production_postgres(False) as pg, radius_database(pg) as db, \
            db.connect() as conn:
        used_codes = load(conn, args.codes, args.used)
        at = dt.datetime.now(dt.UTC)
        old_rows = conn.execute(ROWS.format("captiva_bench_baseline"), (at,)).fetchall()
        new_rows = conn.execute(ROWS.format("public"), (at,)).fetchall()
        assert len(new_rows) == args.codes, len(new_rows)
        differ = [(o, n) for o, n in zip(old_rows, new_rows, strict=True)
                  if comparable(o) != comparable(n)]
        assert not differ, differ[:3]
        # The counts as the portal asks for them, alternately, three runs each.
        old_s, new_s = [], []
        for _ in range(3):
            counts_old, seconds = timed(conn, COUNTS.format("captiva_bench_baseline"))
            old_s.append(seconds)
            counts_new, seconds = timed(conn, COUNTS.format("public"))
            new_s.append(seconds)
        assert dict(counts_old) == dict(counts_new)
        # One code's login judgement, interleaved.
        sample = [(used_codes[i * 97 % len(used_codes)], NAS) for i in range(args.calls)]
        judge = {"captiva_bench_baseline": [], "public": []}
        for schema in judge:  # warm both plans
            for code_nas in sample[:20]:
                timed(conn, JUDGE.format(schema), code_nas)
        for i in range(0, args.calls, 50):
            for schema, times in judge.items():
                for code_nas in sample[i:i + 50]:
                    rows, seconds = timed(conn, JUDGE.format(schema), code_nas)
                    times.append(seconds)
        for code_nas in sample[:50]:
            assert (conn.execute(JUDGE.format("captiva_bench_baseline"), code_nas).fetchall()
                    == conn.execute(JUDGE.format("public"), code_nas).fetchall())
    old_med, new_med = statistics.median(old_s), statistics.median(new_s)
    judge_old = statistics.median(judge["captiva_bench_baseline"]) * 1000
    judge_new = statistics.median(judge["public"]) * 1000
    print(f"voucher states, {args.codes} codes, {len(used_codes)} used (median of 3 runs)")
    print(f"  counts by state, baseline (per-code judge)  {old_med:7.2f} s")
    print(f"  counts by state, set-based                  {new_med:7.2f} s"
          f"   x{old_med / new_med:.1f} faster   target < {TARGET_S:.0f} s")
    print(f"  states: {dict(sorted(counts_new))}")
    print(f"  one login judgement (median of {args.calls}): baseline {judge_old:.2f} ms,"
          f" set-based {judge_new:.2f} ms")
    return 0 if new_med < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
