# shellcheck shell=bash
# Routers (sourced by `lab/lab info`): the RouterOS API simulator of lab/router-sim.
cat <<TXT
  router API:           ${ADDRESS[lab-gw1]}:8728, RouterOS API simulator (lab/router-sim status ${CONTAINER[lab-gw1]})
      .venv/bin/python lab/lab-router.py lab-gw1 print                     # Captiva's hotspot user profiles
      .venv/bin/python lab/lab-router.py lab-gw1 print --all /ip/hotspot/walled-garden/ip   # any menu, every entry
TXT
