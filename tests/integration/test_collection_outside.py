"""The built collection, used from outside (issue 26): a campus repository in a directory of
its own (its ansible.cfg, its inventory, its requirements.yml) installs the tarball
``ansible-galaxy collection build`` makes (make collection) with ``ansible-galaxy collection
install`` and validates, plans and applies its roster from there (the collection's playbook
captiva.campus.roster) against a real PostgreSQL and a RouterOS API server
(tools/routeros-sim). Nothing of the project's tree is on Ansible's paths."""

import os
import re
import subprocess
import textwrap

import pytest
import yaml
from ansible_run import BIN, ROOT, recap
from routeros_fixtures import start_sim, stop_sim
from test_roster_path import flat, roster_inventory, write_roster

CAMPUS_CFG = textwrap.dedent("""\
    [defaults]
    inventory = inventory
    collections_path = collections
    # Captiva's site-wide defaults (the collection's group_vars/captiva_defaults.yml), below
    # the inventory's own group_vars.
    vars_plugins_enabled = captiva.campus.captiva_defaults, host_group_vars
    interpreter_python = auto_silent
    retry_files_enabled = false
    """)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    run = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path",
                          str(out), str(ROOT)], capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    built = out / f"captiva-campus-{version}.tar.gz"
    assert built.is_file()
    return built


def campus_env(repo):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "PYTHONPATH"))}
    # The controller's virtualenv puts this checkout's collections/ on sys.path (make venv's
    # captiva-collections.pth, for the runtime's imports); a campus's own virtualenv has no
    # such path, so Ansible here looks only where the campus's ansible.cfg says.
    return dict(env, ANSIBLE_CONFIG=str(repo / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_FORCE_COLOR="0", ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False")


def run(repo, *argv, timeout=600):
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=repo, env=campus_env(repo),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout, check=False)


def test_a_campus_repository_installs_the_collection_and_applies_its_roster(
        tmp_path, tarball, radius_db):
    repo = tmp_path / "campus-wifi"
    repo.mkdir()
    assert not repo.resolve().is_relative_to(ROOT)
    (repo / "ansible.cfg").write_text(CAMPUS_CFG)
    (repo / "requirements.yml").write_text(yaml.safe_dump(
        {"collections": [{"name": str(tarball), "type": "file"}]}))
    installed = run(repo, "ansible-galaxy", "collection", "install", "-r", "requirements.yml",
                    "-p", "collections")
    assert installed.returncode == 0, installed.stdout
    collection = repo / "collections" / "ansible_collections" / "captiva" / "campus"
    assert (collection / "plugins" / "modules" / "captiva_radius.py").is_file()
    # The project's own tests and inventories stay out; ansible-test's ignore file ships.
    assert [p.name for p in (collection / "tests").iterdir()] == ["sanity"]
    assert not (collection / "inventories").exists() and not (collection / "bench").exists()
    listed = run(repo, "ansible-galaxy", "collection", "list", "captiva.campus")
    assert str(repo / "collections" / "ansible_collections") in listed.stdout, listed.stdout

    sim = start_sim(tmp_path)
    try:
        inventory = roster_inventory(repo, radius_db, sim, ["alice01", "bob0002"])
        (repo / "campus").rename(repo / "inventory")
        inventory = repo / "inventory"

        validated = run(repo, "ansible-playbook", "captiva.campus.validate")
        assert validated.returncode == 0, validated.stdout
        assert re.search(r"\busers\W+2\b", validated.stdout), validated.stdout

        plan = run(repo, "ansible-playbook", "captiva.campus.roster", "--check", "--diff")
        assert plan.returncode == 0, plan.stdout
        assert "Captiva plan: users: +2 ~0 -0" in flat(plan.stdout)
        with radius_db.connect() as conn:
            assert conn.execute("SELECT count(*) FROM captiva_user").fetchone()[0] == 0

        applied = run(repo, "ansible-playbook", "captiva.campus.roster")
        assert applied.returncode == 0, applied.stdout
        assert "router menus: 1 of 1 routers changed" in flat(applied.stdout)
        with radius_db.connect() as conn:
            assert conn.execute("SELECT count(*) FROM captiva_user").fetchone()[0] == 2
        assert "etudiant-standard" in {p["name"] for p in sim.rows("/ip/hotspot/user/profile")}
        assert "alice01-secret-pw" not in applied.stdout

        # A campus's own roster change, then nothing left to do.
        write_roster(inventory, ["alice01", "bob0002", "carol003"])
        one = run(repo, "ansible-playbook", "captiva.campus.roster")
        assert one.returncode == 0, one.stdout
        assert "Captiva applied: users: +1 ~0 -0" in flat(one.stdout)
        again = run(repo, "ansible-playbook", "captiva.campus.roster")
        assert again.returncode == 0, again.stdout
        assert recap(again.stdout)["changed"] == 0

        # An invalid roster changes nothing and names the campus's own file.
        write_roster(inventory, ["alice01", "bob0002", "carol003", "carol003"])
        refused = run(repo, "ansible-playbook", "captiva.campus.roster")
        assert refused.returncode != 0
        assert "roster.yml" in refused.stdout and "captiva_users[3]" in refused.stdout
        with radius_db.connect() as conn:
            assert conn.execute("SELECT count(*) FROM captiva_user").fetchone()[0] == 3
    finally:
        stop_sim(sim)
