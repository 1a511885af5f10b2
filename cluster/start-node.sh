#!/usr/bin/env bash
# Join a node to a farm Ray cluster, advertising its video engines as Ray resources.
#   cluster/start-node.sh HEAD:6379          # worker node
#   cluster/start-node.sh --head             # head node
# GPU nodes get `nvdec` / `nvenc` resources from `farm doctor --json` (zero on CPU nodes).
set -euo pipefail
resources='{}'
if command -v farm >/dev/null && farm doctor --json >/tmp/farm-doctor.json 2>/dev/null; then
  resources=$(python3 -c 'import json; d=json.load(open("/tmp/farm-doctor.json")); print(json.dumps(d.get("ray_resources", {})))')
fi
if [ "${1:-}" = "--head" ]; then
  exec ray start --head --port=6379 --num-cpus="$(nproc)" --resources="$resources"
fi
exec ray start --address="${1:?usage: start-node.sh HEAD:PORT | --head}" --num-cpus="$(nproc)" --resources="$resources"
