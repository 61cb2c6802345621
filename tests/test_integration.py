"""REINFORCE inside the SB3 ecosystem: callbacks, vec envs, wrappers, logging, devices."""

import os

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import (
    CheckpointCallback,
    EvalCallback,
    StopTrainingOnRewardThreshold,
)
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

from sb3_reinforce import REINFORCE
from sb3_reinforce.__main__ import main as train_main


def test_evaluate_policy_and_predict():
    model = REINFORCE("MlpPolicy", "CartPole-v1", seed=0, device="cpu").learn(1_000)
    returns, lengths = evaluate_policy(model, model.get_env(), n_eval_episodes=3, return_episode_rewards=True)
    assert len(returns) == 3
    np.testing.assert_array_equal(returns, lengths)  # CartPole pays 1 per step: the returns are real episodes
    assert all(8 <= length <= 500 for length in lengths)
    obs = model.get_env().reset()
    a1, _ = model.predict(obs, deterministic=True)
    a2, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a1, a2)
    action, _ = model.predict(np.zeros(4, dtype=np.float32))  # a single, non-vectorised observation
    assert model.action_space.contains(int(action))


def test_callbacks(tmp_path):
    eval_env = make_vec_env("CartPole-v1", seed=1)
    stop = StopTrainingOnRewardThreshold(reward_threshold=-1.0)  # any return beats it: stops at the first eval
    eval_callback = EvalCallback(
        eval_env, callback_on_new_best=stop, eval_freq=500, n_eval_episodes=2, best_model_save_path=str(tmp_path)
    )
    checkpoint = CheckpointCallback(save_freq=200, save_path=str(tmp_path / "checkpoints"), name_prefix="reinforce")
    model = REINFORCE("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    model.learn(50_000, callback=[checkpoint, eval_callback])
    assert model.num_timesteps < 50_000  # stopped early by StopTrainingOnRewardThreshold
    assert os.path.exists(tmp_path / "best_model.zip")
    checkpoints = sorted(os.listdir(tmp_path / "checkpoints"))
    assert checkpoints and all(name.startswith("reinforce_") for name in checkpoints)
    REINFORCE.load(tmp_path / "checkpoints" / checkpoints[0], device="cpu")


def test_progress_bar_and_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    model = REINFORCE("MlpPolicy", "CartPole-v1", tensorboard_log=str(tmp_path), seed=0, device="cpu")
    model.learn(1_000, progress_bar=True)
    run_dirs = os.listdir(tmp_path)
    assert run_dirs == ["REINFORCE_1"]
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "REINFORCE_1"))


def test_subproc_vec_env_and_vec_normalize(tmp_path):
    env = VecNormalize(make_vec_env("CartPole-v1", n_envs=2, seed=0, vec_env_cls=SubprocVecEnv), gamma=0.99)
    try:
        model = REINFORCE("MlpPolicy", env, n_episodes=4, use_baseline=True, seed=0, device="cpu")
        model.learn(2_000)
        assert model.num_timesteps >= 2_000
        model.save(tmp_path / "model")
        env.save(str(tmp_path / "vecnormalize.pkl"))
    finally:
        env.close()
    eval_env = VecNormalize.load(str(tmp_path / "vecnormalize.pkl"), make_vec_env("CartPole-v1", seed=3))
    eval_env.training, eval_env.norm_reward = False, False
    loaded = REINFORCE.load(tmp_path / "model", env=eval_env, device="cpu")
    returns, lengths = evaluate_policy(loaded, eval_env, n_eval_episodes=2, return_episode_rewards=True)
    # unnormalised rewards (norm_reward=False): 1 per step, as from the raw env
    np.testing.assert_array_equal(returns, lengths)
    assert min(lengths) >= 8


def test_set_env_and_continue_training():
    model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), n_episodes=2, seed=0, device="cpu")
    model.learn(1_000)
    steps = model.num_timesteps
    model.set_env(make_vec_env("CartPole-v1", n_envs=2, seed=5))
    model.learn(1_000, reset_num_timesteps=False)
    assert model.num_timesteps >= steps + 1_000
    with pytest.raises(ValueError):
        model.set_env(DummyVecEnv([lambda: __import__("gymnasium").make("Acrobot-v1")] * 2))


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_devices(device):
    model = REINFORCE("MlpPolicy", "CartPole-v1", device=device, seed=0).learn(500)
    expected = "cuda" if device == "auto" and th.cuda.is_available() else "cpu"
    assert model.device.type == expected
    assert next(model.policy.parameters()).device.type == expected


@pytest.mark.skipif(not th.cuda.is_available(), reason="no CUDA device")
def test_cuda_device():
    model = REINFORCE("MlpPolicy", "CartPole-v1", device="cuda", seed=0).learn(500)
    assert model.device.type == "cuda"


def test_default_budget_and_train_command(tmp_path, capsys):
    assert REINFORCE.learn.__defaults__[0] == 100_000
    args = ["--timesteps", "2000", "--save-path", str(tmp_path / "agent"), "--eval-episodes", "2", "--no-progress"]
    mean = train_main(args)
    assert os.path.exists(tmp_path / "agent.zip")
    out = capsys.readouterr().out
    assert f"mean return {mean:.1f}" in out
    assert 8 <= mean <= 500  # CartPole's shortest and longest episodes
    # quiet by default: the result and where the model went, no logger tables; --verbose brings the tables back
    assert "rollout/" not in out and len(out.splitlines()) <= 3
    train_main([*args, "--verbose"])
    assert out.count("\n") < capsys.readouterr().out.count("rollout/")
