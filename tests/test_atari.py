"""Karpathy Pong wrappers (sb3_reinforce.atari): each wrapper on a hand-built input, then one update on real Pong."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
import yaml
from gymnasium import spaces
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE
from sb3_reinforce.atari import (
    PONG_DOWN,
    PONG_UP,
    BinaryPongActions,
    DifferenceFrames,
    FrameSkip,
    KarpathyPong,
    KarpathyPreprocessing,
    PerPointEpisodes,
    make_pong_env,
    pong_hyperparameters,
    preprocess_pong_frame,
)

ale_py = pytest.importorskip("ale_py")

HYPERPARAMS = Path(__file__).parent.parent / "hyperparams" / "reinforce.yml"


def background_frame() -> np.ndarray:
    frame = np.zeros((210, 160, 3), dtype=np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = 144, 72, 17  # Pong's brown background
    return frame


class FakePong(gym.Env):
    """
    ALE-like Pong: RGB frames, 6 actions with Pong's meanings, and a scripted reward per step; the game ends
    (terminated) at the last scripted step. Frame t has a "ball" pixel at row 41 + 2t, so frames differ.
    """

    metadata = {"render_modes": []}

    def __init__(self, rewards: list[float]):
        self.observation_space = spaces.Box(0, 255, (210, 160, 3), dtype=np.uint8)
        self.action_space = spaces.Discrete(6)
        self.rewards = rewards
        self.t = 0
        self.n_resets = 0
        self.actions: list[int] = []

    def get_action_meanings(self) -> list[str]:
        return ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"]

    def frame(self) -> np.ndarray:
        frame = background_frame()
        frame[41 + 2 * (self.t % 70), 80, 0] = 236
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.n_resets += 1
        return self.frame(), {}

    def step(self, action):
        self.actions.append(int(action))
        reward = self.rewards[self.t]
        self.t += 1
        return self.frame(), reward, self.t == len(self.rewards), False, {}


def test_preprocessing_synthetic_frame():
    frame = background_frame()
    frame[0:35, :, 0] = 200  # score area: cropped
    frame[195:210, :, 0] = 236  # bottom border: cropped
    frame[61:71, 11:21, 0] = 109  # the second background colour: erased
    frame[50:66, 140:144, :] = (92, 186, 92)  # agent's paddle
    frame[50:66, 16:20, :] = (213, 130, 74)  # opponent's paddle
    frame[101, 80, :] = 236  # ball on a kept row (35 + 2 * 33) and column (2 * 40)
    frame[102, 81, :] = 236  # a pixel on a dropped row and column

    out = preprocess_pong_frame(frame)

    # kept rows are 35, 37, .., 193 and kept columns 0, 2, .., 158
    expected = np.zeros((80, 80), dtype=np.uint8)
    expected[8:16, 70:72] = 1  # agent's paddle: rows 51..65 -> 8..15, columns 140, 142 -> 70, 71
    expected[8:16, 8:10] = 1  # opponent's paddle: columns 16, 18 -> 8, 9
    expected[33, 40] = 1  # ball
    assert out.dtype == np.uint8 and out.shape == (80, 80)
    np.testing.assert_array_equal(out, expected)

    with pytest.raises(ValueError, match="210, 160, 3"):
        preprocess_pong_frame(np.zeros((84, 84), dtype=np.uint8))


def test_preprocessing_wrapper_space():
    env = KarpathyPreprocessing(FakePong([0.0] * 5))
    obs, _ = env.reset()
    assert env.observation_space == spaces.Box(0, 1, (80, 80), np.uint8)
    assert obs.shape == (80, 80) and obs.dtype == np.uint8
    assert obs.sum() == 1 and obs[3, 40] == 1  # FakePong's ball pixel at row 41, column 80


def test_difference_frames_and_reset():
    env = DifferenceFrames(KarpathyPreprocessing(FakePong([0.0] * 10)))
    assert env.observation_space == spaces.Box(-1, 1, (80, 80), np.int8)
    raw = KarpathyPreprocessing(FakePong([0.0] * 10))
    raw_frames = [raw.reset()[0]] + [raw.step(0)[0] for _ in range(3)]

    obs, _ = env.reset()
    assert obs.dtype == np.int8 and not obs.any()  # zeros on the first step
    for t in range(1, 4):
        obs, *_ = env.step(0)
        expected = raw_frames[t].astype(np.int16) - raw_frames[t - 1].astype(np.int16)
        np.testing.assert_array_equal(obs, expected)
        assert obs.dtype == np.int8 and obs.min() == -1 and obs.max() == 1
    obs, _ = env.reset()
    assert not obs.any()  # reset clears the previous frame
    obs, *_ = env.step(0)
    np.testing.assert_array_equal(obs, raw_frames[1].astype(np.int16) - raw_frames[0])


def test_binary_actions():
    fake = FakePong([0.0] * 10)
    env = BinaryPongActions(fake)
    assert env.action_space == spaces.MultiBinary(1)
    env.reset()
    for action in (np.array([1]), np.array([0]), np.array([1.0], dtype=np.float32), np.array([0.0]), np.int8([1])):
        env.step(action)
    assert fake.actions == [PONG_UP, PONG_DOWN, PONG_UP, PONG_DOWN, PONG_UP]
    assert (PONG_UP, PONG_DOWN) == (2, 3)


def test_frame_skip():
    fake = FakePong([0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    env = FrameSkip(fake, skip=4)
    env.reset()
    _, reward, terminated, _, _ = env.step(2)
    assert reward == 0.0 and fake.t == 4 and not terminated  # rewards of the 4 frames summed
    _, reward, terminated, _, _ = env.step(2)
    assert reward == 1.0 and terminated and fake.t == 7  # stops at the end of the game


def test_per_point_episodes_keep_whole_game_monitor():
    # a game of 3 points: lost at step 3, won at step 5, lost at step 8 (the end of the game)
    rewards = [0.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, -1.0]
    fake = FakePong(rewards)
    vec_env = DummyVecEnv([lambda: PerPointEpisodes(Monitor(fake))])
    vec_env.reset()
    dones, games = [], []
    for _ in range(len(rewards)):
        _, _, done, infos = vec_env.step(np.array([0]))
        dones.append(bool(done[0]))
        if "episode" in infos[0]:
            games.append(infos[0]["episode"])
    assert dones == [False, False, True, False, True, False, False, True]  # one REINFORCE episode per point
    assert fake.n_resets == 2  # the game was reset at the start and after its end only, not at the points
    assert len(games) == 1 and games[0]["r"] == -1.0 and games[0]["l"] == len(rewards)  # Monitor: the whole game


def test_per_point_soft_and_real_resets():
    fake = FakePong([0.0, 1.0, 0.0, 0.0, -1.0, 0.0])
    env = PerPointEpisodes(fake)
    env.reset()
    env.step(0)
    obs, _, terminated, *_ = env.step(0)
    assert terminated and fake.n_resets == 1
    soft_obs, info = env.reset()  # right after a point: the game goes on
    assert fake.n_resets == 1 and info.get("point_reset") and np.array_equal(soft_obs, obs)
    env.reset()  # a second reset with no step in between is still soft
    assert fake.n_resets == 1
    env.step(0)
    env.reset()  # mid-point (REINFORCE resets envs that are mid-episode at a rollout start): a new game
    assert fake.n_resets == 2 and fake.t == 0
    env.reset(seed=3)  # a seed always resets the game
    assert fake.n_resets == 3


def test_karpathy_pong_chain_on_real_env():
    env = KarpathyPong(gym.make("PongNoFrameskip-v4"), per_point=True)
    assert env.observation_space == spaces.Box(-1, 1, (6400,), np.int8)
    assert not is_image_space(env.observation_space)  # MlpPolicy takes it as is
    assert env.action_space == spaces.MultiBinary(1)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (6400,) and obs.dtype == np.int8 and not obs.any()
    frames_before = env.unwrapped.ale.getEpisodeFrameNumber()
    obs, *_ = env.step(np.array([1]))
    assert env.unwrapped.ale.getEpisodeFrameNumber() - frames_before == 4  # frame skip 4 added
    v5 = KarpathyPong(gym.make("ALE/Pong-v5"), per_point=False)
    assert not isinstance(v5.env, PerPointEpisodes)
    v5.reset(seed=0)
    frames_before = v5.unwrapped.ale.getEpisodeFrameNumber()
    v5.step(np.array([0]))
    assert v5.unwrapped.ale.getEpisodeFrameNumber() - frames_before == 4  # v5 skips 4 frames itself, no FrameSkip


def yaml_blocks() -> dict:
    with open(HYPERPARAMS) as file:
        return yaml.load(file, Loader=yaml.UnsafeLoader)  # rl-zoo3's loader


def test_yaml_matches_python_preset():
    block = yaml_blocks()["PongNoFrameskip-v4"]
    preset = pong_hyperparameters()
    for key, value in preset.items():
        if key != "policy_kwargs":
            assert block[key] == value, key
    # rl-zoo3 evaluates the policy_kwargs string with torch as `th` and torch.nn as `nn` in scope
    assert eval(block["policy_kwargs"], {"th": th, "nn": th.nn}) == preset["policy_kwargs"]
    assert block["env_wrapper"] == [{"sb3_reinforce.atari.KarpathyPong": {"per_point": True}}]
    assert yaml_blocks()["ALE/Pong-v5"] == block


def test_preset_one_update_on_real_pong():
    env = make_pong_env("PongNoFrameskip-v4", n_envs=2, seed=0, vec_env_cls=DummyVecEnv)
    model = REINFORCE("MlpPolicy", env, seed=0, device="cpu", **{**pong_hyperparameters(), "n_episodes": 2})
    assert type(model.policy.action_dist).__name__ == "BernoulliDistribution"
    assert [layer.out_features for layer in model.policy.mlp_extractor.policy_net if hasattr(layer, "out_features")] == [200]
    params_before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(1)  # one rollout (one point per env) and one update
    assert model._n_updates == 1 and model.num_timesteps > 0
    assert model.rollout_buffer.observations.dtype == np.int8  # 6,400 bytes a step, no float32 copy of the rollout
    assert any(not th.equal(a, b) for a, b in zip(params_before, model.policy.parameters(), strict=True))
    env.close()
