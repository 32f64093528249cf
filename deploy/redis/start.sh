#!/bin/sh
# Starts Redis in the official image with its password in a 0600 config file instead of
# `--requirepass` on redis-server's command line (any host user can read a process's
# command line in /proc; only its owner can read its environment).
#
# Compose runs this as the container's root; it then re-enters the image's own
# docker-entrypoint.sh with a `.conf` first argument. That entrypoint still prepends
# redis-server, appends `--loadmodule` for every bundled module (RedisTimeSeries) and
# drops root before the server reads the file. The password comes from REDISCLI_AUTH,
# which the health check's redis-cli reads anyway.
set -eu
: "${REDISCLI_AUTH:?set FINSENT_REDIS__PASSWORD in .env}"
conf="${TMPDIR:-/tmp}/finsent-redis-auth.conf"
umask 077
# Every byte as \xHH inside double quotes, redis.conf's own escape: any password is safe,
# quotes, backslashes, spaces and non-ASCII included.
hex=$(printf '%s' "$REDISCLI_AUTH" | od -An -v -tx1 | tr -d ' \n' | sed 's/../\\x&/g')
printf 'requirepass "%s"\n' "$hex" >"$conf"
if [ "$(id -u)" = 0 ]; then
  chown redis:redis "$conf"
fi
exec docker-entrypoint.sh "$conf" "$@"
