#!/bin/bash
# The Pong runs (three seeds and the sticky-action game) at the lowest CPU priority, each stopping at a 100-game mean of +15 or after 3,000
# games, and resuming from its checkpoints when the script is run again. With no arguments it runs, one after
# another, PongNoFrameskip-v4 seeds 1, 2 and 0 and ALE/Pong-v5 (sticky actions) seed 0; arguments name the runs
# instead, as ENV_ID:SEED, so that two queues can share a two-core machine:
#     nohup scripts/pong/runs.sh PongNoFrameskip-v4:1 ALE/Pong-v5:0 > logs/pong_runs_a.log 2>&1 &
#     nohup scripts/pong/runs.sh PongNoFrameskip-v4:2 PongNoFrameskip-v4:0 > logs/pong_runs_b.log 2>&1 &
# scripts/pong/save_progress.sh commits what a run needs to resume on another machine (this script restores it).
# then: python -m scripts.pong.train_pong --plot-only --compare s0=logs/pong_PongNoFrameskip-v4_seed0 ... --output docs/pong/seeds.png
cd "$(dirname "$0")/.." || exit 1
mkdir -p logs
. scripts/pong/_checkpoints.sh
if [ $# -eq 0 ]; then
  set -- PongNoFrameskip-v4:1 PongNoFrameskip-v4:2 ALE/Pong-v5:0 PongNoFrameskip-v4:0
fi
for spec in "$@"; do
  env_id=${spec%:*}
  seed=${spec##*:}
  dir=logs/pong_$(echo "$env_id" | tr '/' '_')_seed$seed
  saved=docs/pong/in_progress/$(basename "$dir")
  local_latest=$(newest_checkpoint "$dir/checkpoints")
  saved_latest=$(newest_checkpoint "$saved/checkpoints")
  local_steps=$([ -n "$local_latest" ] && checkpoint_steps "$local_latest")
  saved_steps=$([ -n "$saved_latest" ] && checkpoint_steps "$saved_latest")
  if [ -n "$saved_steps" ] && [ "$saved_steps" -gt "${local_steps:-0}" ]; then
    # the progress scripts/pong/save_progress.sh committed is newer than this machine's (or it has none): resume
    # from it (the games logged after it are dropped by train_pong.py when it resumes)
    mkdir -p "$dir/checkpoints" && cp "$saved"/checkpoints/*.zip "$dir/checkpoints/" && cp "$saved/games.csv" "$dir/" \
      && rm -rf "$dir/monitor" && cp -r "$saved/monitor" "$dir/"
    echo "$(date) restored $dir from $saved ($saved_steps steps; local: ${local_steps:-none})"
  fi
  echo "$(date) start $dir"
  nice -n 19 python -m scripts.pong.train_pong --env-id "$env_id" --seed "$seed" --log-dir "$dir" > "$dir.log.new" 2>&1
  rc=$?
  cat "$dir.log.new" >> "$dir.log" && rm "$dir.log.new"
  echo "$(date) end $dir rc=$rc"
done
