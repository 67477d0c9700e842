#!/bin/bash
# Copy the small records of finished runs into the repository, for docs/RESULTS.md:
#   docs/runs/NAME/{config.yaml,results.json,history.json}  (history only when under 3 MB;
#   batch-1 runs log one loss per step and are larger), docs/figures/NAME_{loss,accuracy}.png
# and print each run's `tinyrpn report` table to docs/runs/NAME/report.md.
# Usage: scripts/collect_runs.sh [--no-figures] RUN_DIR...   (checkpoints are never copied;
# --no-figures leaves the PNGs out, e.g. for a seed spread whose curves are not shown)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
figures=1
if [ "${1:-}" = "--no-figures" ]; then figures=0; shift; fi
for run in "$@"; do
  name="$(basename "$run")"
  dest="$root/docs/runs/$name"
  mkdir -p "$dest" "$root/docs/figures"
  cp "$run/config.yaml" "$run/results.json" "$dest/"
  if [ "$(stat -c %s "$run/history.json")" -lt 3000000 ]; then
    cp "$run/history.json" "$dest/"
  fi
  for plot in loss accuracy; do
    if [ "$figures" = 1 ] && [ -f "$run/$plot.png" ]; then
      cp "$run/$plot.png" "$root/docs/figures/${name}_$plot.png"
    fi
  done
  tinyrpn report "$run" > "$dest/report.md"
  echo "collected $run -> $dest"
done
