"""Recurrent policies: whole episodes as sequences, backpropagation through time, predict with states, save/load."""

import numpy as np
import pytest
import torch as th
from gymnasium.wrappers import TimeLimit
from sb3_contrib.common.envs import InvalidActionEnvDiscrete
from sb3_contrib.common.maskable.evaluation import evaluate_policy as maskable_evaluate_policy
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_reinforce import REINFORCE, RecurrentREINFORCE
from sb3_reinforce.masking import is_maskable
from sb3_reinforce.recurrent_policies import RecurrentREINFORCEPolicy
from sb3_reinforce.sequences import (
    SequenceEpisodicRolloutBuffer,
    SequenceGroupedEpisodicRolloutBuffer,
    episode_segments,
    sequence_layout,
)
from tests.envs import RandomRewardEnv
from tests.helpers import SPACES, collect, params_of

# ---------------------------------------------------------------------------------------------------------------
# The update evaluates whole episodes as they were played


def random_length_model(n_envs: int = 3, **kwargs) -> RecurrentREINFORCE:
    """Random rewards and episode ends (at most 20 steps), a small LSTM."""
    env = make_vec_env(lambda: TimeLimit(RandomRewardEnv(), max_episode_steps=20), n_envs=n_envs, seed=0)
    kwargs = {"n_episodes": 6, "seed": 0, "device": "cpu", "policy_kwargs": dict(lstm_hidden_size=8), **kwargs}
    return RecurrentREINFORCE("MlpLstmPolicy", env, **kwargs)


def record_sampling_distributions(model: RecurrentREINFORCE) -> list:
    """Keep the (torch) distribution of every step the rollout samples from (row k of the buffer: the k-th)."""
    distributions = []
    step = model.policy._step

    def recording_step(*args, **kwargs):
        distribution, values, states = step(*args, **kwargs)
        distributions.append(distribution.distribution)  # SB3 reuses its wrapper: keep torch's distribution
        return distribution, values, states

    model.policy._step = recording_step  # type: ignore[method-assign]
    return distributions


def sampled_log_probs(model: RecurrentREINFORCE, distributions: list) -> np.ndarray:
    """(pos, n_envs): log pi(a|history) of every stored action, under the distribution it was sampled from."""
    buffer = model.rollout_buffer
    rows = []
    for row, distribution in enumerate(distributions[: buffer.pos]):
        actions = th.as_tensor(buffer.actions[row])
        actions = actions.long().flatten() if actions.shape[-1] == 1 else actions
        rows.append(distribution.log_prob(actions).detach().numpy())
    return np.stack(rows)


def update_log_probs(model: RecurrentREINFORCE) -> np.ndarray:
    """(pos, n_envs): the log-likelihoods the update computes, from one chunk of whole episodes (NaN: unused)."""
    buffer = model.rollout_buffer
    (samples,) = buffer.get(None)
    segments = episode_segments(buffer.episode_ends[: buffer.pos], buffer.used)
    order = np.argsort(segments.lengths, kind="stable")  # the update's order
    layout = sequence_layout(*(array[order] for array in segments))
    actions = samples.actions.long().flatten() if samples.actions.shape[-1] == 1 else samples.actions
    with th.no_grad():
        _, log_prob, _ = model.policy.evaluate_samples(samples, actions)
    out = np.full((buffer.pos, buffer.n_envs), np.nan)
    out[layout.steps[layout.padding_mask], layout.envs[layout.padding_mask]] = log_prob.numpy()
    return out


@pytest.mark.parametrize("rollout", [dict(), dict(group_size=2), dict(group_size=3, n_episodes=6)])
def test_update_log_probs_are_those_the_actions_were_sampled_with(rollout):
    """Each episode run through the LSTM from its first step gives the log-likelihoods of the rollout, whose
    states were reset at every episode start (also at a grouped rollout's seeded resets)."""
    model = random_length_model(**rollout)
    distributions = record_sampling_distributions(model)
    collect(model)
    used = model.rollout_buffer.used
    assert model.rollout_buffer.n_episodes == 6
    np.testing.assert_allclose(update_log_probs(model)[used], sampled_log_probs(model, distributions)[used], atol=1e-5)


def test_buffer_of_whole_episodes_is_chosen_once():
    assert type(random_length_model().rollout_buffer) is SequenceEpisodicRolloutBuffer
    assert type(random_length_model(group_size=2).rollout_buffer) is SequenceGroupedEpisodicRolloutBuffer


def test_gradient_reaches_the_first_step_of_every_episode():
    """Backpropagation through time is not truncated: the last action's log-likelihood of each episode depends
    on the episode's first observation."""
    model = random_length_model()
    collect(model)
    (samples,) = model.rollout_buffer.get(None)
    observations = samples.observations.clone().requires_grad_(True)
    actions = samples.actions.flatten()
    _, log_prob, _ = model.policy.evaluate_samples(samples._replace(observations=observations), actions)
    lengths = samples.padding_mask.reshape(samples.n_seq, -1).sum(dim=1)
    max_len = len(samples.padding_mask) // samples.n_seq
    last_steps = th.cumsum(lengths, dim=0) - 1
    long_episodes = th.nonzero(lengths >= 5).flatten()
    assert len(long_episodes) > 0
    (grad,) = th.autograd.grad(log_prob[last_steps[long_episodes]].sum(), observations)
    for episode in long_episodes.tolist():
        assert grad[episode * max_len].abs().sum() > 0, f"episode {episode}: no gradient to its first step"


@pytest.mark.parametrize("baseline", [dict(), dict(baseline="value", value_fit="joint"), dict(baseline="value")])
def test_chunking_does_not_change_the_update(baseline):
    """batch_size only bounds memory: one chunk of every episode or chunks of a few give the same parameters."""
    whole, chunked = (params_of(random_length_model(batch_size=batch_size, **baseline).learn(50)) for batch_size in (None, 12))
    for name in whole:
        if "value" in name or "critic" in name:
            continue  # the separate fit shuffles minibatches of episodes of a size set by vf_batch_size
        th.testing.assert_close(whole[name], chunked[name], atol=1e-5, rtol=1e-4, msg=name)


def test_separate_value_fit_trains_only_the_critic():
    model = random_length_model(baseline="value")
    collect(model)
    before = params_of(model)
    model._fit_baseline()
    after = params_of(model)
    critic = {id(p) for p in model.policy.value_parameters()}
    for name, param in model.policy.named_parameters():
        changed = not th.equal(before[name], after[name])
        assert changed == (id(param) in critic), name
    assert any(name.startswith("lstm_critic") for name in before)


# ---------------------------------------------------------------------------------------------------------------
# Policies, spaces and sb3-contrib's policy arguments


def test_no_critic_without_a_value_baseline():
    model = random_length_model()
    assert model.policy.value_net is None and model.policy.lstm_critic is None and model.policy.critic is None
    assert not any("value" in name or "critic" in name for name, _ in model.policy.named_parameters())
    with pytest.raises(RuntimeError, match="no value network"):
        model.policy.value_parameters()


RECURRENT_SPACES = {
    "discrete": "MlpLstmPolicy",
    "box": "MlpLstmPolicy",
    "multidiscrete": "MlpLstmPolicy",
    "multibinary": "MlpLstmPolicy",
    "image": "CnnLstmPolicy",
    "dict": "MultiInputLstmPolicy",
}


@pytest.mark.parametrize("space", list(RECURRENT_SPACES))
@pytest.mark.parametrize("baseline", [dict(), dict(baseline="value"), dict(baseline="value", value_fit="joint")])
def test_learns_on_every_space(space, baseline):
    _, make_env = SPACES[space]
    env = make_vec_env(lambda: TimeLimit(make_env(), max_episode_steps=8), n_envs=2, seed=0)
    policy_kwargs = dict(lstm_hidden_size=8)
    if space == "image":
        policy_kwargs["features_extractor_kwargs"] = dict(features_dim=16)
    model = RecurrentREINFORCE(
        RECURRENT_SPACES[space], env, n_episodes=2, ent_coef=0.01, seed=0, policy_kwargs=policy_kwargs, **baseline
    )
    before = params_of(model)
    model.learn(32)
    assert model._n_updates >= 2
    assert any(not th.equal(before[name], value) for name, value in params_of(model).items())


# sb3-contrib's policy arguments for the critic (its test_lstm.py), with the value baseline that uses them
POLICY_KWARGS = [
    {},
    {"share_features_extractor": False},
    dict(shared_lstm=True, enable_critic_lstm=False),
    dict(enable_critic_lstm=True, lstm_hidden_size=4, lstm_kwargs=dict(dropout=0.5), n_lstm_layers=2),
    dict(enable_critic_lstm=False, lstm_hidden_size=4, lstm_kwargs=dict(dropout=0.5), n_lstm_layers=2),
    dict(enable_critic_lstm=False, lstm_hidden_size=4, share_features_extractor=False),
]


def critic_setup(kind: str, policy_kwargs: dict) -> tuple[str, object, dict]:
    """(policy, env, policy_kwargs) of sb3-contrib's test_policy_kwargs, test_cnn and test_dict_obs."""
    if kind == "cnn":
        env = FakeImageEnv(screen_height=40, screen_width=40, n_channels=3)
        return "CnnLstmPolicy", env, {**policy_kwargs, "features_extractor_kwargs": dict(features_dim=32)}
    if kind == "dict":
        from tests.test_masking import ToDictWrapper

        return "MultiInputLstmPolicy", make_vec_env("CartPole-v1", n_envs=1, wrapper_class=ToDictWrapper), policy_kwargs
    return "MlpLstmPolicy", "CartPole-v1", policy_kwargs


@pytest.mark.parametrize("policy_kwargs", POLICY_KWARGS)
@pytest.mark.parametrize("value_fit", ["separate", "joint"])
@pytest.mark.parametrize("kind", ["mlp", "cnn", "dict"])
def test_critic_arguments(policy_kwargs, value_fit, kind):
    policy, env, policy_kwargs = critic_setup(kind, policy_kwargs)
    model = RecurrentREINFORCE(
        policy, env, n_episodes=2, baseline="value", value_fit=value_fit, seed=0, policy_kwargs=policy_kwargs,
        batch_size=64,
    )  # fmt: skip
    model.learn(64)
    assert np.isfinite(model.logger.name_to_value["train/value_loss"])
    evaluate_policy(model, model.get_env(), n_eval_episodes=2, warn=False)


@pytest.mark.parametrize(
    "policy_kwargs",
    [dict(shared_lstm=True, enable_critic_lstm=True), dict(shared_lstm=True, share_features_extractor=False)],
)
def test_contradictory_critic_arguments_are_refused(policy_kwargs):
    policy_kwargs = {"enable_critic_lstm": False, **policy_kwargs}
    with pytest.raises(AssertionError, match="LSTM"):
        RecurrentREINFORCE("MlpLstmPolicy", "CartPole-v1", baseline="value", policy_kwargs=policy_kwargs)


def test_critic_arguments_warn_without_a_critic():
    with pytest.warns(UserWarning, match="no critic to build"):
        RecurrentREINFORCE("MlpLstmPolicy", "CartPole-v1", policy_kwargs=dict(shared_lstm=True))


def test_gsde_runs():
    model = RecurrentREINFORCE(
        "MlpLstmPolicy", "Pendulum-v1", n_episodes=2, use_sde=True, sde_sample_freq=4, seed=0,
        policy_kwargs=dict(lstm_hidden_size=8),
    )  # fmt: skip
    model.learn(200)
    assert model._n_updates == 1


# ---------------------------------------------------------------------------------------------------------------
# predict with states, evaluation, save/load


def test_predict_returns_states_and_resets_them_at_episode_starts():
    model = random_length_model(n_envs=2)
    obs = model.get_env().reset()
    actions, states = model.predict(obs, deterministic=True)
    assert actions.shape == (2,) and len(states) == 2 and states[0].shape == (1, 2, 8)
    # given states, then an episode start: the same as no states at all
    again, new_states = model.predict(obs, state=states, episode_start=np.ones(2, dtype=bool), deterministic=True)
    np.testing.assert_array_equal(actions, again)
    np.testing.assert_allclose(new_states[0], states[0], atol=1e-6)
    # the states carry the history: without a start they differ
    _, carried = model.predict(obs, state=states, episode_start=np.zeros(2, dtype=bool), deterministic=True)
    assert not np.allclose(carried[0], states[0])


def test_predict_matches_the_policy_the_rollout_sampled_from():
    """predict with the returned states, reset at episode starts, follows the rollout's distributions."""
    model = random_length_model(n_envs=1)
    distributions = record_sampling_distributions(model)
    collect(model)
    buffer = model.rollout_buffer
    states, start = None, np.ones(1, dtype=bool)
    for row in range(buffer.pos):
        obs = buffer.observations[row]
        with th.no_grad():
            predicted = model.policy.get_distribution(
                model.policy.obs_to_tensor(obs)[0],
                *(
                    (th.zeros(1, 1, 8), th.zeros(1, 1, 8)) if states is None else tuple(th.as_tensor(s) for s in states),
                    th.as_tensor(start, dtype=th.float32),
                ),
            )[0]
        np.testing.assert_allclose(predicted.distribution.probs, distributions[row].probs, atol=1e-6)
        _, states = model.predict(obs, state=states, episode_start=start)
        start = buffer.episode_ends[row]


def test_evaluate_policy_and_eval_callback():
    model = random_length_model(n_envs=2)
    eval_env = make_vec_env(lambda: TimeLimit(RandomRewardEnv(), max_episode_steps=20), n_envs=2, seed=1)
    model.learn(100, callback=EvalCallback(eval_env, eval_freq=20, n_eval_episodes=4))
    mean, _ = evaluate_policy(model, eval_env, n_eval_episodes=4)
    assert np.isfinite(mean)


@pytest.mark.parametrize("baseline", [dict(), dict(baseline="value")])
def test_save_load(tmp_path, baseline):
    model = random_length_model(n_envs=2, **baseline)
    model.learn(100)
    model.save(tmp_path / "model.zip")
    loaded = RecurrentREINFORCE.load(tmp_path / "model.zip", env=model.get_env(), device="cpu")
    assert isinstance(loaded.policy, RecurrentREINFORCEPolicy)
    for name, value in params_of(model).items():
        assert th.equal(value, params_of(loaded)[name]), name
    obs = model.get_env().reset()
    states_a = states_b = None
    for _ in range(5):
        actions_a, states_a = model.predict(obs, state=states_a, deterministic=True)
        actions_b, states_b = loaded.predict(obs, state=states_b, deterministic=True)
        np.testing.assert_array_equal(actions_a, actions_b)
        np.testing.assert_allclose(states_a[0], states_b[0])
        obs, *_ = model.get_env().step(actions_a)
    loaded.learn(50)  # and it trains on


# ---------------------------------------------------------------------------------------------------------------
# Arguments


def test_carrying_and_truncation_bootstrap_are_refused():
    with pytest.raises(ValueError, match="carry_episodes"):
        RecurrentREINFORCE("MlpLstmPolicy", "CartPole-v1", carry_episodes=True)
    with pytest.raises(ValueError, match="bootstrap_truncated"):
        RecurrentREINFORCE("MlpLstmPolicy", "CartPole-v1", baseline="value", bootstrap_truncated=True)
    assert not RecurrentREINFORCE("MlpLstmPolicy", "CartPole-v1").carry_episodes


def test_policies_of_the_other_algorithm_are_refused():
    with pytest.raises(ValueError, match="RecurrentREINFORCE"):
        REINFORCE("MlpLstmPolicy", "CartPole-v1")
    with pytest.raises(ValueError, match="MlpLstmPolicy"):
        RecurrentREINFORCE("MlpPolicy", "CartPole-v1")


def test_initial_states_are_zero():
    model = random_length_model(n_envs=2)
    states = model._last_lstm_states
    assert isinstance(states, RNNStates) and states.pi[0].shape == (1, 2, 8) and not states.pi[0].any()


# ---------------------------------------------------------------------------------------------------------------
# Composition: a recurrent policy with action masks, with groups, and with both


@pytest.mark.parametrize("rollout", [dict(), dict(group_size=2), dict(baseline="value")])
def test_masked_recurrent_policy_never_samples_an_invalid_action(rollout):
    from tests.test_masking import ENVS, InvalidActionCounter

    for space, make_env in ENVS.items():
        env = make_vec_env(make_env, n_envs=2, seed=0)
        model = RecurrentREINFORCE(
            "MlpLstmPolicy", env, n_episodes=4, seed=0, policy_kwargs=dict(lstm_hidden_size=8), **rollout
        )
        assert is_maskable(model.policy), space
        counter = InvalidActionCounter()
        model.learn(800, callback=counter)
        assert counter.steps >= 800 and counter.invalid == 0, space


@pytest.mark.parametrize("rollout", [dict(), dict(group_size=2)])
def test_masked_update_log_probs_are_those_the_actions_were_sampled_with(rollout):
    """The update applies the stored masks again: its log-likelihoods are the masked ones of the rollout (and
    differ from the unmasked ones)."""
    env = make_vec_env(lambda: InvalidActionEnvDiscrete(dim=10, n_invalid_actions=6), n_envs=2, seed=0)
    model = RecurrentREINFORCE("MlpLstmPolicy", env, n_episodes=2, seed=0, policy_kwargs=dict(lstm_hidden_size=8), **rollout)
    distributions = record_sampling_distributions(model)
    collect(model)
    used = model.rollout_buffer.used
    update = update_log_probs(model)[used]
    np.testing.assert_allclose(update, sampled_log_probs(model, distributions)[used], atol=1e-5)
    (samples,) = model.rollout_buffer.get(None)
    with th.no_grad():
        _, unmasked, _ = model.policy.evaluate_samples(samples._replace(action_masks=None), samples.actions.flatten())
    assert not np.allclose(np.sort(unmasked.numpy()), np.sort(update), atol=1e-3)


def test_masked_recurrent_predict_and_maskable_evaluation(tmp_path):
    env = InvalidActionEnvDiscrete(dim=20, n_invalid_actions=19)  # only the good action is valid
    model = RecurrentREINFORCE("MlpLstmPolicy", env, seed=8, policy_kwargs=dict(lstm_hidden_size=8))
    maskable_evaluate_policy(model, env, n_eval_episodes=5, reward_threshold=99, warn=False)
    obs, _ = env.reset(seed=0)
    action, states = model.predict(obs, action_masks=env.action_masks(), deterministic=True)
    assert env.action_masks()[int(action)] and states[0].shape == (1, 1, 8)
    model.save(tmp_path / "masked.zip")
    loaded = RecurrentREINFORCE.load(tmp_path / "masked.zip")
    assert is_maskable(loaded.policy)
    np.testing.assert_array_equal(loaded.predict(obs, action_masks=env.action_masks(), deterministic=True)[0], action)
    with pytest.raises(ValueError, match="action_masks"):
        random_length_model().predict(np.zeros(3, dtype=np.float32), action_masks=np.ones(3, dtype=bool))
