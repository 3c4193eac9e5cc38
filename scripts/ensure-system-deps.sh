#!/usr/bin/env bash
# Install the Debian packages the reference plugins' data planes run (and back up
# with), the browser the console's tests drive and the sshd the ssh provider's test
# hosts run (plugins/ssh/tests/hostlab.py), where missing.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v pgbackrest >/dev/null || missing+=(pgbackrest)  # the postgres type's backups
command -v jq >/dev/null || missing+=(jq)  # the README's backup walkthrough reads JSON with it
command -v ip >/dev/null || missing+=(iproute2)
command -v setpriv >/dev/null || missing+=(util-linux)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v chromium >/dev/null || missing+=(chromium)  # the console's browser tests
[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)    # the ssh provider's test hosts

if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO="sudo"
    $SUDO apt-get update -qq
    # Only the binaries are wanted: a package's own service (the machine's sshd on port 22
    # of every address, redis, postgresql) must not start. invoke-rc.d asks policy-rc.d;
    # 101 forbids. An existing policy (a container's) is left as it is.
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee $policy >/dev/null
        $SUDO chmod 755 $policy
        trap '$SUDO rm -f $policy' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null

    # The machine's sshd would answer on port 22 of the root namespace, where tests bind
    # nothing but loopback; the test hosts run the binary in namespaces of their own.
    if [[ " ${missing[*]} " == *" openssh-server "* ]] && ss -Hltn 'sport = :22' | grep -q .; then
        echo "installing openssh-server left a listener on port 22:" >&2
        ss -Hltnp 'sport = :22' >&2
        exit 1
    fi
fi
