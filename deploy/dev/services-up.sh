#!/usr/bin/env bash
# Starts what Calldex's tests use on this machine — Redis, NATS JetStream,
# PostgreSQL, MariaDB — installing them from Debian's packages where missing.
# Used by .ci/run and `task up`; idempotent.
set -euo pipefail

. "$(dirname "$0")/ports.sh"
apt_updated=""
need() { # need BINARY PACKAGE...
  command -v "$1" >/dev/null 2>&1 && return 0
  [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${@:2}" >/dev/null
}

command -v go >/dev/null || { echo "Go 1.26 is required (https://go.dev/dl)" >&2; exit 1; }
need wrk wrk # the load generator of `task bench:http`
# Fault and cluster tests start redis-server processes of their own and
# join them with redis-cli --cluster.
need redis-server redis-server
need redis-cli redis-tools
# The web console's end-to-end tests drive headless Chromium.
need chromium chromium

if ! up 6379; then
  need redis-server redis-server
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_port 6379
fi

if ! up 4222; then
  need nats-server nats-server
  mkdir -p /tmp/calldex-ci-nats
  nohup nats-server -a 127.0.0.1 -p 4222 -js -sd /tmp/calldex-ci-nats >/tmp/calldex-ci-nats.log 2>&1 &
  wait_port 4222
fi

if ! up 5432; then
  need pg_ctlcluster postgresql
  version="$(ls /etc/postgresql | head -n1)"
  # Tests connect as postgres over loopback without a password (test machines only).
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  grep -q "calldex-tests" "$hba" || sed -i '1i host all all 127.0.0.1/32 trust # calldex-tests' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port 5432
fi
psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >/dev/null

if ! up 3306; then
  need mariadbd mariadb-server
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
  wait_port 3306
  # A fresh Debian install authenticates root by socket only; tests connect
  # over TCP as root without a password (test machines only).
  mariadb -u root -e "ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')" 2>/dev/null || true
fi
mariadb -h 127.0.0.1 -u root -e "CREATE DATABASE IF NOT EXISTS test" >/dev/null

