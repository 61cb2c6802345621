#!/bin/bash
# The Pong runs of issue 16, one after another at the lowest CPU priority: PongNoFrameskip-v4 seeds 1, 2 and 0, and
# ALE/Pong-v5 (sticky actions) seed 0. Each stops at a 100-game mean of +15 or after 3,000 games and resumes from
# its checkpoints when the script is run again:
#     nohup scripts/pong_runs.sh > logs/pong_runs.log 2>&1 &
# then: python scripts/train_pong.py --plot-only --compare s0=logs/pong_PongNoFrameskip-v4_seed0 ... --output docs/pong/seeds.png
cd "$(dirname "$0")/.." || exit 1
mkdir -p logs
for spec in "PongNoFrameskip-v4 1" "PongNoFrameskip-v4 2" "ALE/Pong-v5 0" "PongNoFrameskip-v4 0"; do
  set -- $spec
  dir=logs/pong_$(echo "$1" | tr '/' '_')_seed$2
  echo "$(date) start $dir"
  nice -n 19 python scripts/train_pong.py --env-id "$1" --seed "$2" --log-dir "$dir" > "$dir.log" 2>&1
  echo "$(date) end $dir rc=$?"
done
