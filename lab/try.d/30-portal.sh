# shellcheck shell=bash
# Status portal (sourced by `lab/lab info`): nginx on the portal host serves it by the
# roster's name captiva_portal.dns_name (HTTPS, the role's self-signed certificate unless
# one is given); the line is printed once it answers.
portal_name=$(awk '/^captiva_portal:/ { p = 1 } p && $1 == "dns_name:" { print $2; exit }' \
    "$PROJECT_DIR/inventories/lab/group_vars/all/settings.yml")
portal_try="curl -k --resolve $portal_name:443:${ADDRESS[lab-portal]} https://$portal_name/"
if [ -n "$portal_name" ] && $portal_try -sS -o /dev/null --max-time 3 2>/dev/null; then
    cat <<TXT
  status portal:        $portal_try
      in a browser on this machine: add "${ADDRESS[lab-portal]} $portal_name" to /etc/hosts, open https://$portal_name/
      (log in as lab-student1 / lab-password-1)
TXT
else
    printf '  status portal:        nothing answers on https://%s/ (%s) yet: see roles/portal\n' \
        "${portal_name:-captiva_portal.dns_name}" "${ADDRESS[lab-portal]}"
fi
