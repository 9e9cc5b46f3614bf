#!/usr/bin/env bash
# The test command: set up (packages, npm, bpffs, build), then every test
# layer — unit, layout, packet (BPF_PROG_TEST_RUN), end-to-end, packaging.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec node scripts/run-tests.mjs "$@"
