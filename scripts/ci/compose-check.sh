#!/usr/bin/env bash
# CI stage "compose", shared by the Jenkinsfile and .github/workflows/ci.yml:
#   scripts/ci/compose-check.sh <env file> [output folder]
# renders every compose file of deploy/compose/ with that environment file and validates it
# against the compose schema; a variable the files use but the environment file does not set
# is an error too (compose would quietly put an empty string in its place). With an output
# folder, writes each rendered file there (<name>.rendered.yml) for a look or an artifact: it
# holds the environment file's secrets, so keep it out of public logs.
# Exit status 0 when every file renders, 1 when one does not, 2 on wrong usage.
# The semantic checks (every variable a payrail service sets is one payrail reads, every URL
# names a service on a port it listens on, …) are in test/operations/compose.test.ts.
set -euo pipefail

usage() { echo "usage: $0 <env file> [output folder]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
env_file="$(readlink -f "$1")" || usage
[ -f "$env_file" ] || { echo "$0: environment file $1 does not exist" >&2; exit 2; }
out="${2:-}"
if [ -n "$out" ]; then mkdir -p "$out" && out="$(readlink -f "$out")"; fi
cd "$(dirname "$0")/../.."

if command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  echo "$0: neither docker-compose nor the docker compose plugin is installed (Debian package docker-compose)" >&2
  exit 2
fi

# Compose lets the shell's variables win over the environment file's; the check renders what
# the file alone says, so that a variable of the CI agent cannot hide a missing one.
compose=(env -i "PATH=$PATH" "HOME=${HOME:-/tmp}" "${compose[@]}")

failed=0
for file in deploy/compose/*.yml; do
  name="$(basename "$file" .yml)"
  # Rendered to a temporary file: stdout would print the environment file's secrets.
  rendered="$(mktemp)"
  if ! "${compose[@]}" --env-file "$env_file" -f "$file" config >"$rendered" 2>"$rendered.err"; then
    echo "FAIL $file with $1:" >&2
    cat "$rendered.err" >&2
    failed=1
  elif grep -i 'variable is not set' "$rendered.err" >&2; then
    echo "FAIL $file with $1: the variables above are not set in the environment file" >&2
    failed=1
  else
    echo "ok   $file with $1"
    if [ -n "$out" ]; then cp "$rendered" "$out/$name.rendered.yml"; fi
  fi
  rm -f "$rendered" "$rendered.err"
done
exit "$failed"
