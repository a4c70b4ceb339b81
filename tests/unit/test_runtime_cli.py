"""captiva/runtime: every command line reads its configuration through one reader and exits
the same way: a missing or broken file is exit status 2 with one line naming the file (and the
line of a syntax error), never a traceback and never a value of the file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from captiva.runtime import jobs_config, mail, settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hunter2-not-for-the-journal"  # noqa: S105 - a test value

# (module, arguments before the configuration's path, arguments after it)
COMMANDS = [
    ("captiva.quota.cli", ["--config"], ["enforce"]),
    ("captiva.workstations.cli", ["--config"], ["retention"]),
    ("captiva.vouchers.cli", ["revoke", "K7HM-3XPW-9H", "--config"], []),
    ("captiva.portal.cli", ["--check", "--config"], []),
    ("captiva.smoke", ["disconnect", "--router", "gw1=127.0.0.1:3799", "--config"], []),
]


def run(module: str, argv: list[str]) -> subprocess.CompletedProcess:
    code = f"import sys; from {module} import main; sys.exit(main({argv!r}))"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("module, before, after", COMMANDS)
def test_a_missing_configuration_is_exit_2_naming_the_file(tmp_path, module, before, after):
    missing = tmp_path / "absent.toml"
    result = run(module, [*before, str(missing), *after])
    assert result.returncode == 2, result.stderr
    assert f"{missing}: cannot read" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("module, before, after", COMMANDS)
def test_a_broken_configuration_names_its_line_and_never_its_values(tmp_path, module, before,
                                                                    after):
    broken = tmp_path / "broken.toml"
    broken.write_text(f'dsn = "host=db password={SECRET}"\n[smtp]\npassword = "{SECRET}\n')
    result = run(module, [*before, str(broken), *after])
    assert result.returncode == 2, result.stderr
    assert f"{broken}:" in result.stderr and "line 3" in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_import_csv_refuses_a_broken_smtp_file_and_writes_nothing(tmp_path):
    inventory = tmp_path / "inv"
    shutil.copytree(ROOT / "inventories" / "example", inventory)
    users = sorted((inventory / "group_vars" / "all").glob("*.yml"))
    before = {p: p.read_text() for p in users}
    registrar = tmp_path / "rentree.csv"
    registrar.write_text("Matricule;Prénom;Nom;Courriel\n"
                         "STU2026901;Awa;Ngo;awa.ngo@etu.example.org\n", encoding="utf-8")
    smtp = tmp_path / "smtp.toml"
    smtp.write_text(f'[smtp]\nhost = "mail"\npassword = "{SECRET}\n')
    result = run("captiva.onboarding.cli", [
        "import-csv", str(inventory), str(registrar), "--map", "username=Matricule",
        "--map", "first_name=Prénom", "--map", "last_name=Nom", "--map", "email=Courriel",
        "--promotion", "L1-INFO-2025", "--letters", str(tmp_path / "letters"),
        "--mail", str(smtp)])
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"error: {smtp}:" in result.stderr and "line 3" in result.stderr
    assert "nothing written" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert {p: p.read_text() for p in users} == before


def test_the_jobs_configuration_never_shows_a_secret_in_its_repr():
    config = jobs_config.parse({
        "dsn": f"host=db user=captiva_jobs password={SECRET}",
        "routers": {"gw1": {"secret": SECRET}},
        "smtp": {"username": "captiva", "password": SECRET}})
    assert SECRET not in repr(config)
    assert SECRET not in repr(config.routers["gw1"]) + repr(config.smtp)


def test_one_reader_for_every_configuration(tmp_path):
    """The portal's and the jobs' loaders, and import-csv --mail, all raise the one error
    type of settings.read, naming the file."""
    broken = tmp_path / "x.toml"
    broken.write_text("a = \n")
    with pytest.raises(settings.ConfigError, match=str(broken)):
        jobs_config.load(broken)
    from captiva.portal import config as portal_config

    with pytest.raises(settings.ConfigError, match=str(broken)):
        portal_config.load(broken)
    with pytest.raises(settings.ConfigError, match=str(broken)):
        settings.load(broken, lambda data: mail.parse_smtp(data.get("smtp") or {}))
