# Sourced by scripts/pong/runs.sh and scripts/pong/save_progress.sh: the checkpoints of a Pong run are
# <prefix>_<agent steps>_steps.zip, as scripts/pong/train_pong.py's latest_checkpoint reads them.
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
checkpoint_steps() { sed -E 's/.*_([0-9]+)_steps\.zip$/\1/' <<< "$1"; }
newest_checkpoint() {  # the newest complete *_<steps>_steps.zip of a folder (one still being written fails the zip test), or nothing
  local path
  for path in $(ls "$1"/*_steps.zip 2>/dev/null | sed -E 's/.*_([0-9]+)_steps\.zip$/\1 &/' | sort -rn | cut -d' ' -f2); do
    if "$PYTHON" -m zipfile -t "$path" > /dev/null 2>&1; then echo "$path"; return; fi
  done
}
