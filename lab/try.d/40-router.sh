# shellcheck shell=bash
# Routers (sourced by `lab/lab info`).
# TODO(tools/routeros-sim): a librouteros one-liner once the simulator runs in the container.
cat <<TXT
  router API:           ${ADDRESS[lab-gw1]}:8728 (RouterOS API simulator, not wired yet)
TXT
