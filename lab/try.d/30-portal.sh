# shellcheck shell=bash
# Status portal (sourced by `lab/lab info`).
# TODO(roles/portal): the real URL (path, port, dns name) once the portal serves it.
cat <<TXT
  status portal:        curl http://${ADDRESS[lab-portal]}/
TXT
