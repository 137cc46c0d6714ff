#!/usr/bin/env bash
# The full test suite (the README's second command, `npm test`): installs what is missing, type-checks,
# then runs unit and integration tests against real servers started by jest's global setup.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc --noEmit -p tsconfig.json
# Trap: jest's --selectProjects takes a list, so a test path right after it is read as a project name
# and every suite runs. Put paths first or after `--`:
#   npm test -- --selectProjects integration -- test/integration/harness.test.ts
npx jest --ci --runInBand "$@"
