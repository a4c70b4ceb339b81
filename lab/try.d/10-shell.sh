# shellcheck shell=bash
# How to reach the lab hosts (sourced by `lab/lab info`).
cat <<TXT
  shell on a host:      podman exec -it ${CONTAINER[lab-db]} bash
  run Ansible ad hoc:   .venv/bin/ansible -i inventories/lab podman_hosts -m ansible.builtin.ping
  converge again:       make lab-converge        (whole lab again: make lab; remove it: make lab-destroy)
TXT
