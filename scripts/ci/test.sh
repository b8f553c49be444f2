#!/usr/bin/env bash
# CI stage "test", shared by the Jenkinsfile and .github/workflows/ci.yml: the README's test
# command through .ci/run (CI=true: a missing Kafka, MariaDB, PostgreSQL, Redis or system tool
# fails the run instead of skipping its tests).
#
# `payrail test` installs the Debian packages of the tools some tests run (promtool,
# prometheus, docker-compose: src/cli/system-tools.ts) when it runs as root. A CI agent that
# runs as a user with password-less sudo (GitHub's hosted runners) gets them here, through that
# same code run once under sudo.
set -euo pipefail
cd "$(dirname "$0")/../.."
PAYRAIL_ROOT="$(pwd)"
# shellcheck source=scripts/toolchain.sh
. scripts/toolchain.sh
payrail_toolchain

if [ "$(id -u)" != 0 ] && sudo -n true 2>/dev/null; then
  sudo "$PAYRAIL_NODE" --input-type=module -e "
    const { ensureSystemTools, systemTools } = await import('./src/cli/system-tools.ts')
    for (const { tool, reason } of ensureSystemTools(Object.keys(systemTools)))
      console.error('scripts/ci/test.sh: ' + tool + ': ' + reason)
  "
fi

exec .ci/run
