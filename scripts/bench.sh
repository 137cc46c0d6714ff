#!/usr/bin/env bash
# `npm run bench [-- --only B2,B3] [-- --rounds N]`: installs what is missing (the same setup as the
# tests: the bench starts the same real servers), then runs bench/run.ts. Not part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsx bench/run.ts "$@"
