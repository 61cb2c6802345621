#!/bin/bash
# Keep the Pong runs of issue 16 alive across machines: copy each run's latest checkpoint (policy and RMSprop state,
# about 10 MB), its per-game CSV and its Monitor files from logs/ (not committed) to docs/pong/in_progress/<run>/
# (committed), replacing what was there. scripts/pong_runs.sh copies them back into logs/ on a machine that has no
# checkpoint of the run, and the run resumes from that checkpoint.
#     scripts/pong_save_progress.sh && git add docs/pong/in_progress && git commit -m "Pong: progress"
cd "$(dirname "$0")/.." || exit 1
for dir in logs/pong_*/; do
  dir=${dir%/}
  latest=$(ls "$dir"/checkpoints/*_steps.zip 2>/dev/null | sed -E 's/.*_([0-9]+)_steps\.zip$/\1 &/' | sort -n | tail -1 | cut -d' ' -f2)
  [ -n "$latest" ] || continue
  saved=docs/pong/in_progress/$(basename "$dir")
  rm -rf "$saved" && mkdir -p "$saved/checkpoints"
  cp "$latest" "$saved/checkpoints/" && cp "$dir/games.csv" "$saved/" && cp -r "$dir/monitor" "$saved/"
  echo "saved $(basename "$latest") and $(($(wc -l < "$dir/games.csv") - 1)) games of $dir to $saved"
done
