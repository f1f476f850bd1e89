#!/usr/bin/env bash
# Idempotent set-up of a Debian 12 machine (as root) for development and CI:
#   1. the Debian packages listed in hack/apt-packages.txt;
#   2. a virtualenv .venv/ with hack/requirements-dev.txt and requirements.txt;
#   3. the collection made visible to Ansible at
#      .venv/collections/ansible_collections/undock/oci -> repository root.
# Reruns are fast: each step is skipped when its stamp says nothing changed.
# Nothing is exported globally; the Makefile sets PATH and ANSIBLE_COLLECTIONS_PATH.
#
# Environment:
#   PYTHON=/path/to/python3   interpreter for the virtualenv (default: see pick_python)
#   BOOTSTRAP_FORCE=1         ignore stamps and redo every step
#   BOOTSTRAP_APT_LOCK_WAIT=600  seconds to wait for another apt/dpkg run to finish
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
STAMPS="$REPO/.cache/bootstrap"
APT_LIST="$REPO/hack/apt-packages.txt"
PY_REQS=("$REPO/hack/requirements-dev.txt" "$REPO/requirements.txt")
APT_MAX_AGE_MIN=$((6 * 60)) # 'apt-get update' again only when older than this
APT_LOCK_WAIT="${BOOTSTRAP_APT_LOCK_WAIT:-600}"
# The locks apt and dpkg take (fcntl), frontend first, as apt takes them. A test may name others.
read -r -a APT_LOCKS <<<"${BOOTSTRAP_APT_LOCKS:-/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock}"

# The venv's own bin/ may be on PATH (the Makefile puts it there): never pick it
# as the base interpreter.
PATH="$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$VENV/bin" | paste -sd: -)"
export PATH
unset VIRTUAL_ENV PYTHONHOME

log() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$STAMPS"

# ---------------------------------------------------------------- apt
apt_packages() { sed -e 's/#.*//' -e 's/[[:space:]]//g' "$APT_LIST" | grep -v '^$'; }

apt_missing() {
    local pkg
    while read -r pkg; do
        if ! dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
            echo "$pkg"
        fi
    done < <(apt_packages)
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root (or sudo) to run: $*"; fi
}

# Print "FILE PID" for the first of APT_LOCKS that a process holds a lock on; fail if none.
# Reads /proc/locks, which names a file MAJOR:MINOR:INODE (hex, hex, decimal), instead of
# trying the lock: holding it even for a moment could make the other apt run fail.
apt_lock_holder() {
    local path dev ino id pid
    for path in "${APT_LOCKS[@]}"; do
        read -r dev ino < <(stat -L -c '%d %i' "$path" 2>/dev/null) || continue
        id="$(printf '%02x:%02x:%d' $(((dev >> 8) & 0xfff | ((dev >> 32) & ~0xfff))) \
            $(((dev & 0xff) | ((dev >> 12) & ~0xff))) "$ino")"
        pid="$(awk -v id="$id" '$2 != "->" && $6 == id { print $5; exit }' /proc/locks)"
        if [ -n "$pid" ]; then
            echo "$path $pid"
            return 0
        fi
    done
    return 1
}

# Wait, at most APT_LOCK_WAIT seconds, while another apt or dpkg (unattended-upgrades, a
# second bootstrap...) holds its locks, saying so every 30 s; then fail naming the holder.
# Seconds are counted from $EPOCHREALTIME: $SECONDS ticks on whole seconds of the clock, so
# "SECONDS - start >= N" can hold after only N-1 seconds and a fraction.
wait_apt_locks() {
    local start held file pid name next=0 waited
    start="$(elapsed_us 0)"
    while held="$(apt_lock_holder)"; do
        file="${held% *}" pid="${held##* }"
        name="$(cat "/proc/$pid/comm" 2>/dev/null || echo '?')"
        waited=$(($(elapsed_us "$start") / 1000000))
        if ((waited >= APT_LOCK_WAIT)); then
            die "$file is still locked by process $pid ($name) after ${APT_LOCK_WAIT} s; let it finish, then rerun (BOOTSTRAP_APT_LOCK_WAIT sets the wait)"
        fi
        if ((waited >= next)); then
            log "waiting for another package manager: $file is locked by process $pid ($name) (waited $waited s of at most ${APT_LOCK_WAIT} s)"
            next=$((next + 30))
        fi
        sleep 1
    done
}

# Microseconds since START (microseconds since the epoch; 0 gives the time now).
elapsed_us() {
    local now="${EPOCHREALTIME/[.,]/}"
    echo $((now - $1))
}

# apt-get as root, once no other apt or dpkg runs; dpkg's own lock timeout covers the
# moment between our check and apt taking the locks.
apt_get() {
    wait_apt_locks
    as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@"
}

apt_update_once() {
    local stamp="$STAMPS/apt-update.stamp"
    if [ -z "${BOOTSTRAP_FORCE:-}" ] && [ -n "$(find "$stamp" -mmin -"$APT_MAX_AGE_MIN" 2>/dev/null)" ]; then
        return 0
    fi
    log "apt-get update"
    apt_get update -q
    touch "$stamp"
}

install_apt() {
    local missing
    missing="$(apt_missing | tr '\n' ' ')"
    if [ -z "${missing// /}" ]; then
        log "apt packages: all present"
        return 0
    fi
    log "apt packages to install: $missing"
    apt_update_once
    # Keep package scripts from starting services (e.g. docker-registry's) on this
    # machine: tests start what they need themselves, on loopback.
    local policy=/usr/sbin/policy-rc.d added_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        added_policy=1
        trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    if ! apt_get install -y -q $missing; then
        log "apt-get install failed; retrying after a fresh 'apt-get update'"
        rm -f "$STAMPS/apt-update.stamp"
        apt_update_once
        # shellcheck disable=SC2086
        apt_get install -y -q $missing
    fi
    if [ -n "$added_policy" ]; then
        as_root rm -f "$policy"
        trap - EXIT
    fi
    missing="$(apt_missing | tr '\n' ' ')"
    [ -z "${missing// /}" ] || die "still missing after install: $missing"
}

# ---------------------------------------------------------------- python
py_ok() { # usable for ansible-core 2.19's controller: Python 3.11 .. 3.13 with venv
    "$1" -c 'import sys, venv, ensurepip; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 13)))' 2>/dev/null
}

pick_python() {
    if [ -n "${PYTHON:-}" ]; then
        py_ok "$PYTHON" || die "PYTHON=$PYTHON is not a Python 3.11-3.13 with venv"
        echo "$PYTHON"
        return
    fi
    local cand real
    # python3 first (on the project's machines a pyenv shim for 3.11): resolve the
    # shim to the real interpreter so the venv does not depend on pyenv's state.
    for cand in python3 /usr/bin/python3 python3.11; do
        command -v "$cand" >/dev/null 2>&1 || continue
        py_ok "$cand" || continue
        real="$("$cand" -c 'import sys; print(sys.executable)' 2>/dev/null)" || continue
        if [ -n "$real" ] && py_ok "$real"; then echo "$real"; else command -v "$cand"; fi
        return
    done
    die "no Python 3.11-3.13 with the venv module found (apt-get install python3-venv)"
}

venv_pip() {
    # One "Collecting NAME" line per package shows progress through a first install
    # that takes minutes; the per-file chatter goes, and so do the warnings this
    # machine's optional local package indexes cause when they do not exist.
    "$VENV/bin/python" -m pip --disable-pip-version-check "$@" --progress-bar off 2>&1 |
        { grep -Ev "is ignored: it is neither a file nor a directory|^Requirement already satisfied|^Looking in |^ +(Using cached|Downloading|Obtaining|Preparing|Building|Installing build|Getting requirements|Attempting uninstall|Found existing|Uninstalling|Successfully uninstalled)" || true; }
    return "${PIPESTATUS[0]}"
}

install_venv() {
    local python stamp="$VENV/.bootstrap-stamp" want
    python="$(pick_python)"
    want="$(
        {
            echo "python=$python $("$python" -c 'import sys; print(sys.version)')"
            cat "${PY_REQS[@]}"
        } | sha256sum | cut -d' ' -f1
    )"
    if [ -z "${BOOTSTRAP_FORCE:-}" ] && [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        log "virtualenv: up to date ($VENV)"
        return 0
    fi
    if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        log "virtualenv: broken interpreter, recreating"
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        log "virtualenv: creating with $python"
        "$python" -m venv "$VENV"
    fi
    log "virtualenv: installing ${PY_REQS[*]#"$REPO/"}"
    venv_pip install --upgrade pip setuptools wheel
    local args=() f
    for f in "${PY_REQS[@]}"; do args+=(-r "$f"); done
    venv_pip install "${args[@]}"
    "$VENV/bin/python" -c 'import ansible, ansible_test, pytest, requests, jsonschema, filelock, cryptography, ansiblelint, antsibull_changelog, antsibull_docs_parser'
    echo "$want" >"$stamp"
}

# ---------------------------------------------------------------- collection link
link_collection() {
    # The same path tests/conftest.py creates: keep them in step.
    local link="$VENV/collections/ansible_collections/undock/oci"
    mkdir -p "$(dirname "$link")"
    if [ -L "$link" ]; then
        [ "$(readlink "$link")" = "$REPO" ] || ln -sfn "$REPO" "$link"
    elif [ -e "$link" ]; then
        die "$link exists and is not a symlink"
    else
        ln -s "$REPO" "$link"
    fi
}

# Sourced (by tests), the functions are defined and nothing runs: `return` works only there.
# shellcheck disable=SC2317  # reached when executed
(return 0 2>/dev/null) && return 0

t0=$SECONDS
install_apt
install_venv
link_collection
log "done in $((SECONDS - t0)) s ($("$VENV/bin/python" -c 'import sys, ansible; print("ansible-core %s, Python %s" % (ansible.__version__, sys.version.split()[0]))'))"
