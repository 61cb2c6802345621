"""carry_episodes=True: the steps envs take while waiting for the slowest are carried to the next rollouts, with
importance weights for the parts played under earlier parameters, instead of being dropped."""

import functools
import math

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from sb3_reinforce import REINFORCE
from tests.envs import RandomLengthEnv, RandomRewardEnv
from tests.helpers import UsedSteps, collect


def test_carrying_uses_most_steps_and_keeps_the_batch_unbiased():
    n_envs, max_length = 8, 20
    results = {}
    for carry in (False, True):
        env = make_vec_env(RandomLengthEnv, n_envs=n_envs, seed=1, env_kwargs=dict(max_length=max_length))
        model = REINFORCE("MlpPolicy", env, n_episodes=8, carry_episodes=carry, seed=1, device="cpu")
        recorder = UsedSteps()
        model.learn(20_000, callback=recorder)
        results[carry] = recorder
        lengths = np.array(recorder.lengths)
        # uniform{1..20}: mean 10.5; 4 standard errors
        tolerance = 4 * math.sqrt((max_length**2 - 1) / 12 / len(lengths))
        assert abs(lengths.mean() - (max_length + 1) / 2) < tolerance, (carry, lengths.mean(), tolerance)
        # every env step is used, dropped, or still in the buffer for the next rollout
        buffer = model.rollout_buffer
        if carry:
            left = buffer.n_unused_steps
            assert recorder.used + recorder.dropped + left == model.num_timesteps
    assert results[True].carried > 0
    assert results[True].used > 1.15 * results[False].used  # fewer steps thrown away (14,314 against 11,774)


def test_carried_steps_record_the_behaviour_log_prob_and_get_their_likelihood_ratio():
    env = make_vec_env(RandomRewardEnv, n_envs=4, seed=0)
    model = REINFORCE("MlpPolicy", env, n_episodes=4, carry_episodes=True, seed=0, device="cpu")
    buffer = model.rollout_buffer
    collect(model)
    old_policy = [p.detach().clone() for p in model.policy.parameters()]
    leftover = buffer.valid[: buffer.pos] & ~buffer.used
    assert leftover.any(), "the test needs steps to carry"
    steps, envs = np.nonzero(leftover)
    np.testing.assert_allclose(buffer.behaviour_log_prob[steps, envs], model._log_prob_of(buffer, steps, envs), rtol=1e-5)

    # the same parameters: every weight is 1
    collect(model)
    assert buffer.n_carried_steps > 0
    model.rollout_buffer.begin_update(functools.partial(model._log_prob_of, model.rollout_buffer))
    np.testing.assert_allclose(buffer.weights[buffer.used], 1.0, rtol=1e-6)

    # new parameters: each carried episode's weight is prod pi_new / pi_old over its carried steps, by hand
    with th.no_grad():
        model.policy.action_net.bias.add_(th.tensor([0.5, -0.3, 0.1]))
    model.rollout_buffer.begin_update(functools.partial(model._log_prob_of, model.rollout_buffer))
    carried = buffer.used & buffer.played_before[: buffer.pos]
    checked = 0
    for env_index in range(4):
        rows = np.flatnonzero(buffer.used[:, env_index])
        ends = rows[buffer.episode_ends[rows, env_index]]
        start = rows[0]
        for end in ends:
            episode = rows[(rows >= start) & (rows <= end)]
            old_rows = episode[carried[episode, env_index]]
            new_log_prob = model._log_prob_of(buffer, old_rows, np.full(len(old_rows), env_index))
            with th.no_grad():
                for p, old in zip(model.policy.parameters(), old_policy, strict=True):
                    p.data, old.data = old.data.clone(), p.data.clone()  # swap in the old parameters
                old_log_prob = model._log_prob_of(buffer, old_rows, np.full(len(old_rows), env_index))
                for p, old in zip(model.policy.parameters(), old_policy, strict=True):
                    p.data, old.data = old.data.clone(), p.data.clone()  # and back
            expected = math.exp(float(np.sum(new_log_prob) - np.sum(old_log_prob)))
            np.testing.assert_allclose(buffer.weights[episode, env_index], expected, rtol=1e-4)
            checked += len(old_rows) > 0
            start = end + 1
    assert checked > 0


def test_carried_episodes_enter_the_loss_with_their_weight(monkeypatch):
    """The policy and value losses multiply each step by its weight: doubling every weight doubles the update."""
    env = make_vec_env(RandomRewardEnv, n_envs=2, seed=0)
    grads = []
    for scale in (1.0, 2.0):
        model = REINFORCE(
            "MlpPolicy",
            env,
            n_episodes=2,
            use_baseline=True,
            value_fit="joint",  # the value loss in the same step (the separate fit: tests/test_baselines.py)
            normalize_advantage=False,
            carry_episodes=True,
            max_grad_norm=math.inf,
            seed=0,
            device="cpu",
        )
        collect(model)
        model.rollout_buffer.weights = np.full_like(model.rollout_buffer.weights, scale)
        monkeypatch.setattr(model.rollout_buffer, "begin_update", lambda log_prob: np.zeros(0))
        monkeypatch.setattr(model.policy.optimizer, "step", lambda: None)
        model.train()
        grads.append(th.cat([p.grad.flatten() for p in model.policy.parameters()]))
    th.testing.assert_close(grads[1], 2 * grads[0], rtol=1e-4, atol=1e-7)


def test_carrying_is_the_default_and_changes_nothing_with_one_env():
    """With one env no step is ever played while waiting: carrying (the default) trains exactly as dropping."""
    params = []
    for carry in (True, False):
        env = make_vec_env(RandomRewardEnv, n_envs=1, seed=4)
        kwargs = {} if carry else dict(carry_episodes=False)
        model = REINFORCE("MlpPolicy", env, n_episodes=2, seed=4, device="cpu", **kwargs)
        assert model.carry_episodes is carry
        model.learn(1_500)
        params.append(th.cat([p.detach().flatten() for p in model.policy.parameters()]))
    assert th.equal(params[0], params[1])
