#!/usr/bin/env bash
# Make sure the tests' PostgreSQL answers on 127.0.0.1:5432 with a `test` database
# that the `postgres` role reaches without a password. Installs and starts the
# Debian cluster where none runs.
set -euo pipefail

export PATH="$PATH:$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
ready() { pg_isready -h 127.0.0.1 -p 5432 -q; }

if ! ready; then
    scripts/ensure-system-deps.sh
    export PATH="$PATH:$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
    if [[ -z "$version" ]]; then
        version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
        pg_createcluster "$version" main --port 5432 >/dev/null
    fi
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! grep -q "^host all all 127.0.0.1/32 trust" "$hba"; then
        sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do ready && break; sleep 1; done
    ready || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
fi

if ! psql -h 127.0.0.1 -U postgres -d test -qtAc 'select 1' >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc 'create database test' >/dev/null 2>&1 \
        || runuser -u postgres -- psql -qc 'create database test'
fi
