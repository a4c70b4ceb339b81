# shellcheck shell=bash
# RADIUS (sourced by `lab/lab info`).
# TODO(roles/freeradius): print a radtest line with a real lab user, password and NAS secret.
cat <<TXT
  RADIUS login:         radtest <user> <password> ${ADDRESS[lab-radius]} 0 <router radius_secret>
TXT
