#!/usr/bin/env bash
# The main job, as root on a Debian machine: set everything up (packages,
# npm dependencies, bpffs, build), then run the agent with the config given
# (./scripts/run.sh /etc/xdp4slb/config.yaml [agent options]) or, with no
# config, the demo: the classic scenario in network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
if (($#)); then
  exec bin/xdp4slb-agent --config "$1" "${@:2}"
fi
exec node dist/demo/run-demo.js
