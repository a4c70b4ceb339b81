"""A plan prints no secret: the Patroni tasks, run as `make plan` runs them (check and diff,
with the captiva_report callback of `make plan-report`), on the HA lab's inventory and its
vaulted passwords, without any host.

roles/postgres/tasks/patroni.yml runs for a database member of inventories/lab-ha whose
connection is this machine (in check mode nothing is written): every file it would write
is new here, so its diffs hold the whole configuration, which is where the passwords were.
The same check against the running HA lab, through `make plan` itself:
tests/ha/test_plan_secrets.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from ansible_run import ROOT
from vault_values import inventory_secrets, leaked

INVENTORY = ROOT / "inventories" / "lab-ha"
MEMBER = "ha-db1"
# The body of each PEM file the plan copies: certificates are public, the key is not.
PEM_BODY = {"ca.crt": "ca-certificate", "member.crt": "member-certificate",
            "member.key": "MEMBER-PRIVATE-KEY-7Q4K2M"}
PLAY = """\
- name: Patroni's tasks of roles/postgres, as a plan runs them
  hosts: {member}
  gather_facts: false
  tasks:
    - name: The tasks that write Patroni's configuration and files
      ansible.builtin.include_role:
        name: captiva.campus.postgres
        tasks_from: patroni.yml
"""


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    work = tmp_path_factory.mktemp("plan")
    (work / "play.yml").write_text(PLAY.format(member=MEMBER))
    # The member's certificates and keys (lab/ha-pki writes the real ones when the HA lab
    # is built): any PEM text does, check mode only copies it into a diff.
    pem = {}
    for name in ("ca.crt", "member.crt", "member.key"):
        pem[name] = work / name
        pem[name].write_text(f"-----BEGIN TEST-----\n{PEM_BODY[name]}\n-----END TEST-----\n")
    overrides = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "ansible_become": False,
        "__postgres_server_ready": False,  # what a plan of a new host sees
        "captiva_database": {"host": "10.89.2.10,10.89.2.11,10.89.2.12", "port": 5432,
                             "name": "radius", "ca_file": str(pem["ca.crt"])},
        "postgres_patroni_etcd_ca_file": str(pem["ca.crt"]),
        "postgres_patroni_etcd_cert": str(pem["member.crt"]),
        "postgres_patroni_etcd_key": str(pem["member.key"]),
    }
    (work / "vars.json").write_text(json.dumps(overrides))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CALLBACKS_ENABLED="captiva.campus.captiva_report",
               CAPTIVA_REPORT=str(work / "plan"))
    run = subprocess.run(
        [str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(INVENTORY), "--limit", MEMBER,
         "--vault-id", f"lab@{INVENTORY / 'vault-password-lab-only.txt'}",
         str(work / "play.yml"), "--check", "--diff", "-e", f"@{work / 'vars.json'}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=300, check=False)
    assert run.returncode == 0, run.stdout
    return run.stdout, (work / "plan.md").read_text(), (work / "plan.json").read_text()


def test_the_plan_and_its_report_hold_no_vaulted_value_and_no_password_hash(plan):
    secrets = inventory_secrets(INVENTORY)
    assert any(".postgres_patroni_passwords." in where for where in secrets)
    output, report, report_json = plan
    for name, text in (("make plan output", output), ("plan report", report),
                       ("plan report JSON", report_json)):
        assert leaked(text, secrets) == [], name
        assert PEM_BODY["member.key"] not in text, name  # Patroni's client key for etcd
    assert PEM_BODY["member.crt"] in output  # a copied file's diff is shown when not secret


def test_the_plan_still_shows_what_changes_in_patronis_configuration(plan):
    output, report, _ = plan
    # The masked copy's diff: every setting, each of the four passwords as ********.
    masked = output.split("Configuration as plans show it", 1)[1].split("TASK [", 1)[0]
    for setting in ("scope: captiva", "certfile: /etc/postgresql/15/main/server.crt",
                    "protocol: https", "username: captiva_replicator"):
        assert setting in masked, setting
    assert masked.count("password: '********'") == 4, masked
    # The file Patroni reads is reported as changed, without its content.
    real = output.split("Configuration, with the roles' passwords", 1)[1].split("TASK [", 1)[0]
    assert "changed: [ha-db1]" in real and "---" not in real and "password" not in real
    assert "scope: captiva" in report  # the report carries the masked diff too
