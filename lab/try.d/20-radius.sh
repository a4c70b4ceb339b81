# shellcheck shell=bash
# RADIUS (sourced by `lab/lab info`). lab/radtest sends the login from the router's address
# with its secret and a Message-Authenticator, as the router would (see docs/lab.md).
# The lab users' passwords are lab-password-<n> (inventories/lab/group_vars/all/users.yml).
cat <<TXT
  RADIUS login as the router ${CONTAINER[lab-gw1]} (${ADDRESS[lab-gw1]}) to ${ADDRESS[lab-radius]}:
      lab/radtest lab-student1 lab-password-1     # Access-Accept, Mikrotik-Group = "etudiant-standard"
      lab/radtest lab-disabled1 lab-password-4    # Access-Reject, "WiFi account disabled"
  RADIUS database:      podman exec -it ${CONTAINER[lab-db]} runuser -u postgres -- psql radius
TXT
