"""Grouped rollouts (group_size > 1): layout, seeding, the within-group baselines, and their bias and variance."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

from sb3_reinforce import REINFORCE
from sb3_reinforce.envs import StartStateBanditEnv
from sb3_reinforce.groups import GroupedEpisodicRolloutBuffer, reset_is_reproducible
from sb3_reinforce.returns import group_leave_one_out_baseline, group_std


def bandit_model(group_size: int, **kwargs: Any) -> REINFORCE:
    """A linear softmax policy (no hidden layer) on the start-state bandit, 16 episodes per update."""
    env = DummyVecEnv([StartStateBanditEnv for _ in range(16)])
    env.seed(0)
    return REINFORCE(
        "MlpPolicy",
        env,
        n_episodes=16,
        group_size=group_size,
        normalize_advantage=False,
        policy_kwargs=dict(net_arch=[]),
        seed=0,
        device="cpu",
        **kwargs,
    )


def analytic_gradient(model: REINFORCE) -> np.ndarray:
    """grad J of the bandit's expected reward at the model's parameters, in the order of policy.parameters()."""
    policy = model.policy
    states = th.eye(4)
    logits = policy.action_net(policy.mlp_extractor.forward_actor(policy.extract_features(states)))
    probs = th.softmax(logits, dim=-1)
    rewards = th.tensor([[10.0 * s + float(a == s % 2) for a in range(2)] for s in range(4)])
    expected = (probs * rewards).sum() / 4  # the start states are uniform
    grads = th.autograd.grad(expected, list(policy.parameters()), allow_unused=True)
    return th.cat(
        [(g if g is not None else th.zeros_like(p)).flatten() for g, p in zip(grads, policy.parameters(), strict=True)]
    ).numpy()


def batch_gradients(model: REINFORCE, n_batches: int) -> np.ndarray:
    """-grad of REINFORCE's policy loss on ``n_batches`` independent rollouts, at fixed parameters: (K, n_params)."""
    _, callback = model._setup_learn(total_timesteps=1, callback=None)
    gradients = []
    for _ in range(n_batches):
        assert model.collect_rollouts(model.env, callback, model.rollout_buffer)
        model.policy.zero_grad()
        for data in model.rollout_buffer.get(None):
            log_prob, _, _ = model._baseline.evaluate(model.policy, data, data.actions.long().flatten())
            (-(data.weights * data.advantages * log_prob).mean()).backward()
        gradients.append(-th.cat([p.grad.flatten() for p in model.policy.parameters()]).numpy())
    return np.stack(gradients)


def test_grouped_leave_one_out_is_unbiased_and_far_less_noisy_than_the_batch_one():
    grouped = bandit_model(group_size=4)
    reference = analytic_gradient(grouped)
    gradients = {"grouped": batch_gradients(grouped, 400), "batch": batch_gradients(bandit_model(group_size=1), 400)}
    for name, grads in gradients.items():
        standard_error = grads.std(axis=0, ddof=1) / np.sqrt(len(grads))
        assert np.all(np.abs(grads.mean(axis=0) - reference) <= 4 * standard_error + 1e-6), name
    variance = {name: grads.var(axis=0, ddof=1).sum() for name, grads in gradients.items()}
    # the batch baseline mostly subtracts the other start states' luck (10 s): grouping removes it
    assert variance["grouped"] < 0.05 * variance["batch"], variance


@pytest.mark.parametrize(
    "n_envs",
    [
        8,  # whole groups in one wave
        2,  # a group's episodes played in turn
        3,  # groups across waves, and a last wave in which one env plays an episode that is not used
        16,  # more envs than episodes: half the envs' episodes are not used
    ],
)
def test_episodes_of_a_group_start_from_the_same_state_and_groups_differ(n_envs):
    model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=n_envs, seed=0), n_episodes=8, group_size=4, seed=0)
    assert isinstance(model.rollout_buffer, GroupedEpisodicRolloutBuffer) and not model.carry_episodes
    _, callback = model._setup_learn(total_timesteps=1, callback=None)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer)
    buffer = model.rollout_buffer
    used = buffer.used
    starts = used & ~np.vstack([np.zeros((1, n_envs), bool), used[:-1] & ~buffer.episode_ends[: buffer.pos - 1]])
    first_obs = buffer.observations[: buffer.pos][starts]
    groups = buffer.groups[: buffer.pos][starts]
    assert sorted(groups.tolist()) == [0, 0, 0, 0, 1, 1, 1, 1]
    for group in (0, 1):
        assert np.all(first_obs[groups == group] == first_obs[groups == group][0])
    assert not np.array_equal(first_obs[groups == 0][0], first_obs[groups == 1][0])
    assert buffer.n_episodes == 8


@pytest.mark.parametrize("n_envs", [3, 8])
def test_each_reset_of_a_group_passes_the_episodes_index_in_its_group(n_envs):
    """TSPEnv(spread_starts=True) starts episode j of a group at node j: every group tries every start once."""
    from sb3_reinforce.routing import TSPEnv

    env = make_vec_env(TSPEnv, n_envs=n_envs, seed=0, env_kwargs=dict(num_nodes=4, spread_starts=True))
    model = REINFORCE("MlpPolicy", env, n_episodes=8, group_size=4, seed=0)
    _, callback = model._setup_learn(total_timesteps=1, callback=None)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer)
    buffer = model.rollout_buffer
    used = buffer.used
    starts = used & ~np.vstack([np.zeros((1, n_envs), bool), used[:-1] & ~buffer.episode_ends[: buffer.pos - 1]])
    first_nodes = buffer.observations[: buffer.pos][starts][:, 16:20].argmax(axis=1)  # the first node's one-hot
    groups = buffer.groups[: buffer.pos][starts]
    assert buffer.n_episodes == 8 and buffer.episode_lengths.tolist() == [3] * 8
    for group in (0, 1):
        assert sorted(first_nodes[groups == group].tolist()) == [0, 1, 2, 3]


def test_a_seeded_grouped_run_repeats_and_another_seed_differs():
    def final(seed: int) -> th.Tensor:
        env = make_vec_env("CartPole-v1", n_envs=4, seed=seed)
        model = REINFORCE("MlpPolicy", env, n_episodes=8, group_size=4, seed=seed).learn(2_000)
        return th.cat([p.detach().flatten() for p in model.policy.parameters()])

    assert th.equal(final(1), final(1))
    assert not th.equal(final(1), final(2))


@pytest.mark.parametrize("wrapper", ["dummy", "subproc", "vecnormalize"])
def test_grouped_runs_with_vec_env_classes(wrapper):
    vec_env_cls = SubprocVecEnv if wrapper == "subproc" else DummyVecEnv
    env = make_vec_env("CartPole-v1", n_envs=4, seed=0, vec_env_cls=vec_env_cls)
    if wrapper == "vecnormalize":
        env = VecNormalize(env)
    model = REINFORCE("MlpPolicy", env, n_episodes=8, group_size=2, group_std_scaling=True, seed=0).learn(1_500)
    assert model._n_updates >= 1 and model.rollout_buffer.n_episodes == 8
    env.close()


def test_grouped_value_baseline_and_save_load(tmp_path):
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = REINFORCE("MlpPolicy", env, n_episodes=4, group_size=2, baseline="value", seed=0).learn(1_000)
    model.save(tmp_path / "grouped")
    loaded = REINFORCE.load(tmp_path / "grouped", env=env)
    assert loaded.group_size == 2 and isinstance(loaded.rollout_buffer, GroupedEpisodicRolloutBuffer)
    loaded.learn(500, reset_num_timesteps=False)


@pytest.mark.parametrize(
    "kwargs, n_envs, message",
    [
        (dict(group_size=0), 2, "group_size must be an integer >= 1"),
        (dict(group_size=2, carry_episodes=True), 2, "carry_episodes=True cannot be used with group_size=2"),
        (dict(group_size=3, n_episodes=8), 2, "n_episodes=8 must be a multiple of group_size=3"),
        (dict(group_std_scaling=True), 2, "group_std_scaling=True scales advantages within groups"),
        (dict(group_size=2, group_std_scaling=True, baseline="none"), 2, "needs baseline='leave_one_out'"),
    ],
)
def test_impossible_group_settings_name_the_argument(kwargs, n_envs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=n_envs), **kwargs)


def test_reset_is_reproducible_tells_seeded_resets_from_others():
    assert reset_is_reproducible(make_vec_env("CartPole-v1", n_envs=2))

    class UnseededStart(StartStateBanditEnv):
        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.state = int(np.random.randint(4))  # the global generator, not the env's seeded one
            return np.eye(4, dtype=np.float32)[self.state], {}

    np.random.seed(0)
    assert not reset_is_reproducible(DummyVecEnv([UnseededStart for _ in range(4)]), n_resets=4)


def test_group_baseline_and_scale_against_hand_computed_values():
    # one step per episode, 4 episodes in 2 groups of 2 (columns), returns 1, 3 | 10, 20
    returns = np.array([[1.0, 3.0, 10.0, 20.0]])
    ends = np.ones((1, 4), dtype=bool)
    used = np.ones((1, 4), dtype=bool)
    groups = np.array([[0, 0, 1, 1]])
    np.testing.assert_allclose(group_leave_one_out_baseline(returns, ends, used, groups), [[3.0, 1.0, 20.0, 10.0]])
    np.testing.assert_allclose(group_std(returns, ends, used, groups), [[1.0, 1.0, 5.0, 5.0]])
    # two-step episodes: the baseline at each step is the other episode's return-to-go there (0 after its end)
    returns = np.array([[2.0, 5.0], [1.0, 0.0]])
    ends = np.array([[False, True], [True, False]])
    used = np.array([[True, True], [True, False]])
    np.testing.assert_allclose(
        group_leave_one_out_baseline(returns, ends, used, np.zeros((2, 2), dtype=int)), [[5.0, 2.0], [0.0, 0.0]]
    )


def test_diagnostics_measure_grouped_against_ungrouped_baselines():
    from sb3_reinforce.diagnostics import gradient_statistics

    env = DummyVecEnv([StartStateBanditEnv for _ in range(16)])
    model = bandit_model(group_size=1)
    kwargs = dict(n_batches=100, env=env, n_reference_batches=50, seed=0)
    stats = gradient_statistics(model, group_size=4, estimators=("leave_one_out", "group_leave_one_out"), **kwargs)
    assert stats["group_leave_one_out"].variance < 0.05 * stats["leave_one_out"].variance
    assert stats["group_leave_one_out"].snr > 3 * stats["leave_one_out"].snr
    with pytest.raises(ValueError, match="the group estimators need group_size > 1"):
        gradient_statistics(model, estimators=("group_leave_one_out",), **kwargs)


def test_the_zoo_preset_of_the_start_state_bandit_learns_the_best_action_in_every_state():
    import yaml

    from sb3_reinforce.zoo import HYPERPARAMS_PATH

    preset = dict(yaml.safe_load(HYPERPARAMS_PATH.read_text())["StartStateBandit-v0"])
    assert preset["group_size"] > 1
    n_envs, n_timesteps, policy = preset.pop("n_envs"), int(preset.pop("n_timesteps")), preset.pop("policy")
    preset["policy_kwargs"] = eval(preset["policy_kwargs"])  # as rl-zoo3 reads it
    model = REINFORCE(policy, make_vec_env("StartStateBandit-v0", n_envs=n_envs, seed=0), seed=0, **preset)
    model.learn(n_timesteps)
    actions, _ = model.predict(np.eye(4, dtype=np.float32), deterministic=True)
    np.testing.assert_array_equal(actions, [0, 1, 0, 1])  # a == s mod 2


class _FakeAle:
    def __init__(self) -> None:
        self.n_lives = 3

    def lives(self) -> int:
        return self.n_lives


class _LivesGame(gym.Env):
    """A game of 3 lives of 2 steps each whose observation is a number drawn at reset: a new game is a new number."""

    observation_space = spaces.Box(0.0, 1e9, shape=(1,), dtype=np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self) -> None:
        self.ale = _FakeAle()
        self.t = 0
        self.start = 0.0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.ale.n_lives, self.t = 3, 0
        self.start = float(self.np_random.integers(10**9))
        return np.array([self.start], dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        self.ale.n_lives -= self.t % 2 == 0
        return np.array([self.start], dtype=np.float32), 1.0, self.ale.n_lives == 0, False, {}


def test_every_round_starts_a_new_game_under_episodic_life_in_training_and_diagnostics():
    from stable_baselines3.common.atari_wrappers import EpisodicLifeEnv

    from sb3_reinforce.sampling import play_episodes

    def make_env() -> DummyVecEnv:
        return DummyVecEnv([lambda: EpisodicLifeEnv(_LivesGame()) for _ in range(2)])

    model = REINFORCE("MlpPolicy", make_env(), n_episodes=4, group_size=2, seed=0)
    model.learn(1)
    diagnostic = GroupedEpisodicRolloutBuffer(
        8, model.observation_space, model.action_space, n_envs=2, group_size=2, episodes_per_rollout=4, seed=0
    )
    play_episodes(model.policy, make_env(), diagnostic, episodes_per_env=2)
    for buffer in (model.rollout_buffer, diagnostic):
        for env_index in range(2):
            valid = np.flatnonzero(buffer.valid[: buffer.pos, env_index])
            first_wave, second_wave = buffer.observations[valid[[0, -1]], env_index, 0]
            assert first_wave != second_wave  # wave 2 is another group's seed: a new game
