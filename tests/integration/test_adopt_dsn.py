"""adopt-db never writes the database password anywhere: a DSN holding one is refused (a
command line is visible in ps and kept in the shell's history), the password comes from
PGPASSWORD or --password-file, and adopt-report.md names the database without it."""

from __future__ import annotations

import pytest
from pg_fixtures import ROLE_PASSWORDS

from captiva.onboarding.cli import main

USER = "captiva_reconcile"  # reads radcheck: the scan's tables
PASSWORD = ROLE_PASSWORDS["reconcile"]


def tcp(db) -> tuple[str, int, str]:
    return "127.0.0.1", db.server.port, db.name


@pytest.mark.parametrize("form", ["keyword", "uri", "uri-query"])
def test_a_dsn_with_a_password_is_refused_and_nothing_is_written(radius_db, tmp_path, capsys,
                                                                 form):
    host, port, name = tcp(radius_db)
    dsn = {"keyword": f"host={host} port={port} dbname={name} user={USER} password={PASSWORD}",
           "uri": f"postgresql://{USER}:{PASSWORD}@{host}:{port}/{name}",
           "uri-query": f"postgresql://{USER}@{host}:{port}/{name}?password={PASSWORD}"}[form]
    out = tmp_path / "adopted"
    assert main(["adopt-db", "--dsn", dsn, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "error: --dsn holds a password" in err
    assert "PGPASSWORD" in err and "--password-file" in err
    assert PASSWORD not in err
    assert not out.exists()


@pytest.mark.parametrize("how", ["PGPASSWORD", "--password-file"])
def test_the_password_comes_from_the_environment_or_a_file_and_the_report_has_none(
        radius_db, tmp_path, capsys, monkeypatch, how):
    host, port, name = tcp(radius_db)
    out = tmp_path / "adopted"
    args = ["adopt-db", "--dsn", f"postgresql://{USER}@{host}:{port}/{name}?sslmode=disable",
            "--out", str(out)]
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    if how == "PGPASSWORD":
        monkeypatch.setenv("PGPASSWORD", PASSWORD)
    else:
        (tmp_path / "db-password").write_text(PASSWORD + "\n")
        args += ["--password-file", str(tmp_path / "db-password")]
    assert main(args) == 0, capsys.readouterr().err
    printed = capsys.readouterr()
    report = (out / "adopt-report.md").read_text()
    assert report.startswith(f"# Adoption report: user={USER} dbname={name} host={host} "
                             f"port={port} sslmode=disable\n"), report
    for text in [report, printed.out, printed.err] + [f.read_text() for f in out.iterdir()]:
        assert PASSWORD not in text


def test_without_a_password_the_scan_fails_to_connect(radius_db, tmp_path, monkeypatch):
    """The password really is needed (the server asks TCP clients for it): the two tests
    above passed it, not a trust rule."""
    host, port, name = tcp(radius_db)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    with pytest.raises(Exception, match="password"):
        main(["adopt-db", "--dsn", f"host={host} port={port} dbname={name} user={USER} "
              "sslmode=disable", "--out", str(tmp_path / "adopted")])
