#!/usr/bin/env bash
# The full test suite (the README's second command, `npm test`): installs what is missing, type-checks,
# then runs unit and integration tests against real servers started by jest's global setup.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc --noEmit -p tsconfig.json
npx jest --ci --runInBand "$@"
