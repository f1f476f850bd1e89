#!/usr/bin/env bash
# Run `ansible-test sanity` on the collection, without docker.
#
# ansible-test only works from a directory named .../ansible_collections/NAMESPACE/NAME
# and does not follow a symlinked root, so the collection's files (tracked, plus
# untracked files that git does not ignore, so it works before a commit) are copied
# into a temporary .../ansible_collections/undock/oci and tested there.
#
# What is checked: the Ansible content (plugins/, meta/, roles/, playbooks/, docs/,
# galaxy.yml, tests/config.yml, tests/sanity/, ...). Left out (EXCLUDE below): the
# pytest suite and the developer tooling. They are not Ansible content, are not run by
# ansible-test, and Ansible's module rules (pylint config, shebangs) do not fit them;
# pytest runs them, and the shell scripts among them get shellcheck below.
#
# ansible-test creates one virtualenv per sanity test (pylint, yamllint,
# validate-modules, ...) under ~/.ansible/test/venv and, with --requirements,
# installs their pinned requirements from PyPI the first time; later runs reuse them.
# The shellcheck test needs the Debian package of that name (hack/apt-packages.txt).
#
# Usage: hack/sanity.sh [extra ansible-test sanity args, e.g. --test pylint]
# With no arguments, a second pass runs the compile and import tests with Python 3.9
# (the oldest the modules support) when a working python3.9 is found (e.g. pyenv's).
# Environment: SANITY_PYTHON (default 3.11), SANITY_OLDEST_PYTHON (default 3.9, '' skips
# the second pass), SANITY_KEEP=1 keeps the temporary copy.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${UNDOCK_VENV:-$REPO/.venv}" # UNDOCK_VENV: a git worktree can use the main checkout's
PYVER="${SANITY_PYTHON:-3.11}"
OLDEST="${SANITY_OLDEST_PYTHON-3.9}" # '' to skip the extra pass

# Path prefixes (relative to the repository) that ansible-test does not see.
EXCLUDE=(
    .ci/
    bench/
    hack/
    tests/conftest.py
    tests/harness/
    tests/integration/
    tests/interop/
    tests/security/
    tests/node/
    tests/unit/
    tests/output/
)

[ -x "$VENV/bin/ansible-test" ] || { echo "sanity: run hack/bootstrap.sh first" >&2; exit 1; }
export PATH="$VENV/bin:$PATH"
unset ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS

work="$(mktemp -d "${TMPDIR:-/tmp}/undock-sanity.XXXXXX")"
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    if [ -n "${SANITY_KEEP:-}" ]; then echo "sanity: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

excluded() {
    local p
    for p in "${EXCLUDE[@]}"; do
        case "$1" in "$p"*) return 0 ;; esac
    done
    return 1
}

dest="$work/ansible_collections/undock/oci"
mkdir -p "$dest"
# git ls-files -co lists deleted-but-tracked files too: copy only what exists.
(
    cd "$REPO"
    git ls-files -z -co --exclude-standard |
        while IFS= read -r -d '' f; do
            excluded "$f" && continue
            if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
        done |
        tar -c --null --no-recursion -T - -f -
) | tar -x -C "$dest" -f -

# A git repository of its own, so ansible-test sees exactly these files as the
# collection's content (and nothing of the enclosing work tree).
(
    cd "$dest"
    git init -q
    git add -A
    git -c user.name=sanity -c user.email=sanity@localhost commit -q -m sanity --no-verify
)

# ansible-test's virtualenvs under ~/.ansible/test are shared by every checkout on
# this machine: one sanity run at a time, or two would build the same one at once.
lock="$HOME/.ansible/test/undock-sanity.lock"
mkdir -p "$(dirname "$lock")"
exec 9>"$lock"
if ! flock -n 9; then
    echo "sanity: waiting for another sanity run to finish (lock $lock)" >&2
    flock -w 1800 9 || { echo "sanity: gave up waiting for $lock" >&2; exit 1; }
fi

# ansible-test bootstraps pip into its sanity virtualenvs with a get-pip.py it
# downloads from a host that is not reachable here; give it a local stand-in.
pip_version="$(python - <<'PY'
import os, re, ansible_test
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
m = re.search(r"default_packages = dict\(\s*pip='([0-9.]+)'", src)
print(m.group(1) if m else "")
PY
)"
[ -n "$pip_version" ] || { echo "sanity: cannot tell which pip ansible-test bootstraps" >&2; exit 1; }
getpip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if ! cmp -s "$REPO/hack/get-pip-shim.py" "$getpip"; then
    mkdir -p "$(dirname "$getpip")"
    cp "$REPO/hack/get-pip-shim.py" "$getpip"
fi

run_sanity() {
    # pip warns once per package about the machine's optional local indexes that do
    # not exist; drop that noise, keep everything else.
    local rc
    set +e
    ansible-test sanity --color=no --requirements "$@" 2>&1 |
        grep --line-buffered -v "is ignored: it is neither a file nor a directory"
    rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

find_python() { # find_python 3.9: a working pythonX.Y, also from pyenv's versions
    local v=$1 c
    for c in "$(command -v "python$v" 2>/dev/null)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v"; do
        if [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import venv' >/dev/null 2>&1; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

status=0
cd "$dest"
echo "sanity: all tests, Python $PYVER"
run_sanity --python "$PYVER" "$@" || status=$?

if [ $# -eq 0 ]; then
    # Modules and module_utils run on managed hosts with Python >= 3.9 (tests/config.yml):
    # also compile and import them with the oldest one when it is at hand.
    if [ -n "$OLDEST" ]; then
        if oldest_py="$(find_python "$OLDEST")"; then
            echo "sanity: compile and import, Python $OLDEST ($oldest_py)"
            PATH="$(dirname "$oldest_py"):$PATH" run_sanity --python "$OLDEST" --test compile --test import || status=$?
        else
            echo "sanity: NOTE: no working python$OLDEST here: compile/import on $OLDEST not run"
        fi
    fi
    # The developer shell scripts left out above still get shellcheck, with the
    # exclusions ansible-test uses.
    echo "sanity: shellcheck of the developer scripts"
    (
        cd "$REPO"
        mapfile -t scripts < <(git ls-files -co --exclude-standard -- '*.sh' .ci/run | while read -r f; do [ -f "$f" ] && echo "$f"; done)
        if [ "${#scripts[@]}" -gt 0 ]; then shellcheck -e SC1090,SC1091,SC2028 "${scripts[@]}"; fi
    ) || status=$?
fi

if [ "$status" -ne 0 ]; then
    echo "sanity: FAILED (exit $status); rerun with SANITY_KEEP=1 to inspect $dest/tests/output" >&2
fi
exit "$status"
