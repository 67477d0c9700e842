#!/bin/bash
# Copy the small records of finished runs into the repository, for docs/RESULTS.md:
#   docs/runs/NAME/{config.yaml,results.json,history.json}  (history only when under 3 MB;
#   batch-1 runs log one loss per step and are larger), docs/figures/NAME_{loss,accuracy}.png
# and print each run's `tinyrpn report` table to docs/runs/NAME/report.md.
# Usage: scripts/collect_runs.sh RUN_DIR...   (checkpoints are never copied)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
for run in "$@"; do
  name="$(basename "$run")"
  dest="$root/docs/runs/$name"
  mkdir -p "$dest" "$root/docs/figures"
  cp "$run/config.yaml" "$run/results.json" "$dest/"
  if [ "$(stat -c %s "$run/history.json")" -lt 3000000 ]; then
    cp "$run/history.json" "$dest/"
  fi
  for plot in loss accuracy; do
    [ -f "$run/$plot.png" ] && cp "$run/$plot.png" "$root/docs/figures/${name}_$plot.png"
  done
  tinyrpn report "$run" > "$dest/report.md"
  echo "collected $run -> $dest"
done
