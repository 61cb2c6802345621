#!/bin/bash
# Keep the Pong runs alive across machines: copy each run's latest checkpoint (policy and RMSprop state,
# about 10 MB), its per-game CSV and its Monitor files from logs/ (not committed) to docs/pong/in_progress/<run>/
# (.gitignore keeps checkpoint zips out of the tree: add them with git add -f to move a run to another machine).
# scripts/pong/runs.sh copies them back into logs/ where the saved checkpoint is newer than the local
# one, and the run resumes from it. Safe beside a live run: a checkpoint still being written fails the zip test
# and the one before it is saved; a saved copy is never replaced by an older one, and a failed copy leaves the
# saved one as it was.
#     scripts/pong/save_progress.sh && git add docs/pong/in_progress && git commit -m "Pong: progress"
cd "$(dirname "$0")/.." || exit 1
. scripts/pong/_checkpoints.sh
status=0
for dir in logs/pong_*/; do
  dir=${dir%/}
  latest=$(newest_checkpoint "$dir/checkpoints")
  [ -n "$latest" ] || continue
  saved=docs/pong/in_progress/$(basename "$dir")
  previous=$(newest_checkpoint "$saved/checkpoints")
  if [ -n "$previous" ] && [ "$(checkpoint_steps "$previous")" -ge "$(checkpoint_steps "$latest")" ]; then
    echo "kept $saved: its $(basename "$previous") is not older than $dir's $(basename "$latest")"
    continue
  fi
  tmp=$(mktemp -d "docs/pong/in_progress/.tmp.XXXXXX") || exit 1
  if mkdir -p "$tmp/checkpoints" && cp "$latest" "$tmp/checkpoints/" && cp "$dir/games.csv" "$tmp/" \
    && cp -r "$dir/monitor" "$tmp/"; then
    rm -rf "$saved" && mv "$tmp" "$saved"
    echo "saved $(basename "$latest") and the per-game CSV of $dir to $saved"
  else
    rm -rf "$tmp"
    echo "could not save $dir: $saved is unchanged" >&2
    status=1
  fi
done
exit $status
