#!/usr/bin/env bash
# Start the database servers the tests land from, on free loopback ports in
# a temporary folder, and print the environment the tests read:
#   eval "$(bash tests/databases/start.sh DIR)"   ...   bash tests/databases/stop.sh DIR
# PostgreSQL: initdb/pg_ctl from PATH or the apt package's folder, run as the
# `postgres` user when this runs as root; a superuser `mart` with a password
# (SCRAM), so that a wrong password is refused. MariaDB (apt mariadb-server):
# mariadbd as the `mysql` user when root, with a user `mart` and a password.
set -euo pipefail
dir="${1:?usage: start.sh DIR}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
# The servers run as users of their own (when root): they must reach in.
chmod 755 "$dir"
password="mart-test-password"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pgbin="$(dirname "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")"
[ -x "$pgbin/initdb" ] || { echo "no PostgreSQL server (initdb) found" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg="$dir/pg"
mkdir -p "$pg"
[ "$(id -u)" != 0 ] || chown postgres "$dir" "$pg"
echo "$password" > "$dir/pgpass"
[ "$(id -u)" != 0 ] || chown postgres "$dir/pgpass"
as_pg "$pgbin/initdb" -D "$pg/data" -U mart --pwfile="$dir/pgpass" -A scram-sha-256 >"$dir/pg-initdb.log" 2>&1
port="$(free_port)"
as_pg "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/log" -w \
  -o "-p $port -k $pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
echo "export MART_TEST_POSTGRES_URL='postgres://mart:$password@127.0.0.1:$port/postgres'"
echo "export MART_TEST_PGBIN='$pgbin'"

mysqld="$(command -v mariadbd 2>/dev/null || command -v mysqld 2>/dev/null || ls /usr/sbin/mariadbd 2>/dev/null || true)"
[ -x "$mysqld" ] || { echo "no MariaDB server (mariadbd) found" >&2; exit 1; }
my="$dir/my"
mkdir -p "$my"
myuser="$(id -un)"
if [ "$(id -u)" = 0 ]; then myuser=mysql; chown mysql "$my"; fi
mariadb-install-db --no-defaults --datadir="$my/data" --user="$myuser" --auth-root-authentication-method=normal >"$dir/my-install.log" 2>&1
port="$(free_port)"
"$mysqld" --no-defaults --datadir="$my/data" --user="$myuser" --port="$port" --bind-address=127.0.0.1 \
  --socket="$my/sock" --pid-file="$my/pid" --skip-log-bin --innodb-flush-log-at-trx-commit=0 \
  --max-connections=200 --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci >"$my/log" 2>&1 &
for _ in $(seq 100); do
  mariadb --no-defaults -h127.0.0.1 -P"$port" -uroot -e "select 1" >/dev/null 2>&1 && break
  sleep 0.2
done
mariadb --no-defaults -h127.0.0.1 -P"$port" -uroot -e "
  delete from mysql.global_priv where user = ''; flush privileges;
  create user 'mart'@'%' identified by '$password';
  grant all on *.* to 'mart'@'%' with grant option;"
echo "export MART_TEST_MYSQL_URL='mysql://mart:$password@127.0.0.1:$port/mysql'"
