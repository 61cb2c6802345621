"""Train REINFORCE with its default hyperparameters, save it, and evaluate it.

python -m sb3_reinforce                       # CartPole-v1, the default budget of REINFORCE.learn()
python -m sb3_reinforce --verbose             # the same, with SB3's table of training statistics every update
python -m sb3_reinforce --env Acrobot-v1 --timesteps 300000 --seed 1 --save-path reinforce_acrobot
"""

import argparse
import json

import numpy as np
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_reinforce import REINFORCE


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(
        prog="python -m sb3_reinforce", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", default="CartPole-v1", help="Gymnasium environment id")
    parser.add_argument("--timesteps", type=int, default=None, help="env steps (default: REINFORCE.learn()'s default)")
    parser.add_argument("--n-envs", type=int, default=1, help="number of envs stepping in lockstep")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--kwargs", type=json.loads, default={}, help="REINFORCE arguments as JSON, e.g. '{\"n_episodes\": 4}'"
    )
    parser.add_argument("--save-path", default="reinforce_cartpole", help="where to save the model (.zip)")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    parser.add_argument(
        "--verbose", action="store_true", help="print SB3's table of rollout and training statistics after every update"
    )
    args = parser.parse_args(argv)

    env = make_vec_env(args.env, n_envs=args.n_envs, seed=args.seed)
    model = REINFORCE("MlpPolicy", env, verbose=int(args.verbose), seed=args.seed, device="cpu", **args.kwargs)
    learn_kwargs = {} if args.timesteps is None else {"total_timesteps": args.timesteps}
    model.learn(progress_bar=not args.no_progress, **learn_kwargs)
    model.save(args.save_path)

    eval_env = make_vec_env(args.env, n_envs=1, seed=args.seed + 10_000)
    mean_return, std_return = evaluate_policy(model, eval_env, n_eval_episodes=args.eval_episodes, deterministic=True)
    print(f"Saved the model to {args.save_path}.zip")
    print(
        f"Evaluation on {args.env} ({args.eval_episodes} episodes, deterministic): "
        f"mean return {mean_return:.1f} +/- {std_return:.1f}"
    )
    return float(np.mean(mean_return))  # a float already (a list only with return_episode_rewards=True)


if __name__ == "__main__":
    main()
