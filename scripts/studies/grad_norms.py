"""
How much of REINFORCE's gradient norm comes from the baseline's value loss.

SB3 clips the norm of the whole gradient (policy loss + ``vf_coef`` x value loss + entropy term) to ``max_grad_norm``.
With Monte Carlo returns in the hundreds, the value loss can dominate that norm, and clipping then scales the policy
gradient down with it. This script trains with clipping off (``max_grad_norm`` 1e9) for a few updates and reports
the median ``train/grad_norm`` (before clipping) without a baseline (the policy gradient alone) and with a baseline
for each ``vf_coef``, and the factor by which clipping at ``--clip`` would scale the policy gradient.

    python -m scripts.studies.grad_norms --env Acrobot-v1 --seeds 0 1 2 --steps 5000 --vf-coefs 0.5 0.01 --clip 0.5
"""

import argparse
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize

from sb3_reinforce import REINFORCE


class GradNormRecorder(BaseCallback):
    """Collect ``train/grad_norm`` of every update (read at the start of the next rollout, before the logger dumps)."""

    def __init__(self) -> None:
        super().__init__()
        self.grad_norms: list[float] = []

    def _on_rollout_start(self) -> None:
        value = self.model.logger.name_to_value.get("train/grad_norm")
        if value is not None:
            self.grad_norms.append(float(value))

    def _on_step(self) -> bool:
        return True


def median_grad_norm(env_id: str, seeds: list[int], steps: int, normalize: bool, kwargs: dict[str, Any]) -> float:
    """Median gradient norm before clipping over the updates of ``steps`` env steps, for each seed."""
    norms: list[float] = []
    for seed in seeds:
        env = make_vec_env(env_id, n_envs=2, seed=seed)
        if normalize:
            env = VecNormalize(env, norm_reward=False)
        model = REINFORCE("MlpPolicy", env, seed=seed, device="cpu", max_grad_norm=1e9, **kwargs)
        recorder = GradNormRecorder()
        model.learn(steps, callback=recorder)
        norms += recorder.grad_norms
    return float(np.median(norms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Acrobot-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=5000, help="Env steps per seed")
    parser.add_argument("--vf-coefs", type=float, nargs="+", default=[0.5, 0.01])
    parser.add_argument("--clip", type=float, default=0.5, help="max_grad_norm whose effect is reported")
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--n-episodes", type=int, default=2)
    parser.add_argument("--no-normalize", action="store_true", help="Do not normalise observations (VecNormalize)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    common = dict(gamma=args.gamma, n_episodes=args.n_episodes)
    normalize = not args.no_normalize
    policy_only = median_grad_norm(args.env, args.seeds, args.steps, normalize, dict(use_baseline=False, **common))
    print(f"{args.env}, 2 envs, n_episodes {args.n_episodes}, gamma {args.gamma}, seeds {args.seeds}, {args.steps} steps each")
    print(f"| baseline | median grad norm before clipping | policy gradient scaled by (clip {args.clip}) |")
    print("|---|---:|---:|")
    print(f"| none (policy gradient alone) | {policy_only:.3g} | {min(1.0, args.clip / policy_only):.3g} |")
    for vf_coef in args.vf_coefs:
        kwargs = dict(use_baseline=True, value_fit="joint", vf_coef=vf_coef, **common)
        total = median_grad_norm(args.env, args.seeds, args.steps, normalize, kwargs)
        print(f"| learned, vf_coef {vf_coef} | {total:.3g} | {min(1.0, args.clip / total):.3g} |")


if __name__ == "__main__":
    main()
