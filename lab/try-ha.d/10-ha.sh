# shellcheck shell=bash
# How to try the HA lab (sourced by `CAPTIVA_LAB_VARIANT=ha lab/lab info`; docs/ha.md).
cat <<TXT
  the Patroni cluster:  podman exec ${CONTAINER[ha-db1]} patronictl -c /etc/patroni/config.yml list
  etcd members:         podman exec ${CONTAINER[ha-db1]} etcdctl member list
  RADIUS login to each server, as the router ${CONTAINER[lab-gw1]} (${ADDRESS[lab-gw1]}):
      lab/radtest -i inventories/lab-ha -r lab-gw1 -c ${CONTAINER[lab-gw1]} -s ${ADDRESS[ha-radius1]} lab-student1 lab-password-1
      lab/radtest -i inventories/lab-ha -r lab-gw1 -c ${CONTAINER[lab-gw1]} -s ${ADDRESS[ha-radius2]} lab-student1 lab-password-1
  failure tests:        make test-ha         (docs/ha.md; remove the HA lab: make lab-ha-destroy)
  converge again:       make lab-ha-converge
TXT
