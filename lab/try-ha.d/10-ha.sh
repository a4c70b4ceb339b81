# shellcheck shell=bash
# How to try the HA lab (sourced by `CAPTIVA_LAB_VARIANT=ha lab/lab info`; docs/ha.md).
cat <<TXT
  the Patroni cluster:  podman exec ${CONTAINER[ha-db1]} patronictl -c /etc/patroni/config.yml list
  etcd members (TLS):   podman exec ${CONTAINER[ha-db1]} bash -c '. /etc/etcd/etcdctl.env && etcdctl member list -w table'
  RADIUS login to each server, as the router ${CONTAINER[lab-gw1]} (${ADDRESS[lab-gw1]}):
      lab/radtest -i inventories/lab-ha -r lab-gw1 -c ${CONTAINER[lab-gw1]} -s ${ADDRESS[ha-radius1]} lab-student1 lab-password-1
      lab/radtest -i inventories/lab-ha -r lab-gw1 -c ${CONTAINER[lab-gw1]} -s ${ADDRESS[ha-radius2]} lab-student1 lab-password-1
  failure tests:        make test-ha         (docs/ha.md; remove the HA lab: make lab-ha-destroy)
  CI's HA run:          make test-ha-ci      (lab-ha, the PostgreSQL failover test, lab-ha removed)
  converge again:       make lab-ha-converge
TXT
