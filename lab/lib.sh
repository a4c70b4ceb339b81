# shellcheck shell=bash
# Helpers shared by the lab scripts: step progress with elapsed seconds, and failures that
# name the step, the command and how to fix it. Source it; do not run it.

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT_DIR=$(dirname "$LAB_DIR")
# shellcheck source=lab/lab.env
. "$LAB_DIR/lab.env"
# The project virtualenv (make passes CAPTIVA_VENV=$(VENV)).
VENV=$(realpath -m "${CAPTIVA_VENV:-$PROJECT_DIR/.venv}")

# Seconds since the whole run started (exported so nested scripts keep one clock).
export LAB_START=${LAB_START:-$(date +%s)}
STEP_NAME=""
STEP_HINT=""
STEP_START=0

_elapsed() { echo $(($(date +%s) - LAB_START)); }

# step NAME HINT: start a step; HINT says how to fix it if it fails.
step() {
    STEP_NAME=$1
    STEP_HINT=${2:-}
    STEP_START=$(date +%s)
    printf '==> [%4ss] %s\n' "$(_elapsed)" "$STEP_NAME"
}

# step_done [DETAIL]: end the current step.
step_done() {
    printf '    [%4ss] %s: %s (%ss)\n' "$(_elapsed)" "$STEP_NAME" "${1:-done}" \
        "$(($(date +%s) - STEP_START))"
}

info() { printf '    %s\n' "$*"; }

# die MESSAGE [HINT]: fail the current step with a message and a fix.
die() {
    trap - ERR
    printf '\nFAILED step "%s": %s\n' "${STEP_NAME:-setup}" "$1" >&2
    local hint=${2:-$STEP_HINT}
    [ -n "$hint" ] && printf 'How to fix: %s\n' "$hint" >&2
    exit 1
}

_on_err() {
    local rc=$1 line=$2 cmd=$3
    trap - ERR
    # In a subshell ($(...), ( )): leave the report to the parent, which fails next.
    [ "$BASHPID" = "$$" ] || exit "$rc"
    printf '\nFAILED step "%s" (%s line %s, exit %s): %s\n' "${STEP_NAME:-setup}" \
        "$(basename "$0")" "$line" "$rc" "$cmd" >&2
    [ -n "$STEP_HINT" ] && printf 'How to fix: %s\n' "$STEP_HINT" >&2
    exit "$rc"
}
# errtrace: the trap also fires for failures inside functions.
set -o errtrace
trap '_on_err $? $LINENO "$BASH_COMMAND"' ERR

require_root() {
    [ "$(id -u)" -eq 0 ] || die "the lab needs root (podman runs rootful, apt installs packages)" \
        "run it as root: sudo make lab"
}

# The Debian mirror the host uses (first URIs: of debian.sources); the image reuses it.
debian_mirror() {
    local f=/etc/apt/sources.list.d/debian.sources
    [ -r "$f" ] || die "$f is missing: the image reuses the host's Debian mirror" \
        "create $f (deb822 format, as on a stock Debian 12) with the mirror you can reach"
    awk '/^URIs:/ { print $2; exit }' "$f"
}

# The image reference for the current recipe (lab/image/recipe-hash prints the hash).
image_ref() { echo "$CAPTIVA_IMAGE_REPO:$("$LAB_DIR/image/recipe-hash")"; }

# Lab hosts from inventories/lab/hosts.yml: lines "NAME CONTAINER ADDRESS GROUP".
lab_hosts() { "$VENV/bin/python" "$LAB_DIR/lab-hosts.py" "$@"; }

# Podman keeps the backend it started with (CNI on a bare Debian 12 before netavark was
# installed) while it holds containers or networks made under it. Never reset them here:
# they may be the user's own; say what holds it and how to move.
check_network_backend() {
    step "podman network backend" "podman info --format '{{.Host.NetworkBackend}}' must print netavark"
    local backend held
    backend=$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null) ||
        die "podman info failed" "run podman info and fix what it reports"
    if [ "$backend" != netavark ]; then
        held=$( { podman ps -a --format '{{.Names}}'; podman network ls --format '{{.Name}}'; } 2>/dev/null |
            grep -vx podman | paste -sd' ' - || true)
        die "podman uses the '$backend' network backend, which has no DNS between containers; podman keeps it while it holds containers or networks made under it (${held:-none listed})" \
            "remove those containers and networks yourself (podman rm NAME; podman network rm NAME), or, if none of them is yours to keep, podman system reset; then rerun the command. Captiva never resets podman for you."
    fi
    command -v iptables >/dev/null ||
        die "netavark needs iptables, which is not installed" "apt-get install -y iptables"
    step_done "netavark"
}
