"""One update (train()): the analytic REINFORCE gradient, gradient accumulation over batch_size chunks, the entropy
bonus, and the guards that stop a non-finite loss or gradient before it reaches the parameters."""

import math

import numpy as np
import pytest
import torch as th
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.env_util import make_vec_env

from sb3_reinforce import REINFORCE
from tests.envs import ConstantRewardEnv, RandomRewardEnv
from tests.helpers import assert_params_equal, one_rollout, params_of

# ---------------------------------------------------------------------------------------------------------------
# Gradient


def reference_returns_to_go(rewards: list[float], gamma: float) -> list[float]:
    out, running = [], 0.0
    for reward in reversed(rewards):
        running = reward + gamma * running
        out.append(running)
    return out[::-1]


@pytest.mark.parametrize("n_envs", [1, 2])
def test_update_equals_analytic_reinforce_gradient(n_envs):
    """Linear softmax policy, plain SGD: the parameter change is lr * mean_t G_t grad log pi(a_t|s_t)."""
    lr, gamma = 0.1, 0.9
    env = make_vec_env(RandomRewardEnv, n_envs=n_envs, seed=3)
    model = REINFORCE(
        "MlpPolicy",
        env,
        learning_rate=lr,
        n_episodes=4,
        gamma=gamma,
        baseline="none",  # the plain estimator: G_t weights grad log pi
        normalize_advantage=False,
        ent_coef=0.0,
        max_grad_norm=math.inf,
        policy_kwargs=dict(net_arch=[], optimizer_class=th.optim.SGD, ortho_init=False),
        seed=3,
        device="cpu",
    )
    one_rollout(model)
    buffer = model.rollout_buffer
    weight = model.policy.action_net.weight.detach().numpy().astype(np.float64)  # (n_actions, obs_dim)
    bias = model.policy.action_net.bias.detach().numpy().astype(np.float64)

    # Independent computation from the raw rollout: each env's first 2 episodes, returns-to-go by hand.
    grad_w, grad_b, n_steps = np.zeros_like(weight), np.zeros_like(bias), 0
    for e in range(n_envs):
        t, episodes = 0, 0
        while episodes < model.episodes_per_env:
            start = t
            while not buffer.episode_ends[t, e]:
                t += 1
            t += 1
            episodes += 1
            returns = reference_returns_to_go([float(r) for r in buffer.rewards[start:t, e]], gamma)
            for step, g in zip(range(start, t), returns, strict=True):
                s = buffer.observations[step, e].astype(np.float64)
                a = int(buffer.actions[step, e, 0])
                logits = weight @ s + bias
                pi = np.exp(logits - logits.max())
                pi /= pi.sum()
                score = -pi
                score[a] += 1.0  # d log pi(a|s) / d logits
                grad_w += g * np.outer(score, s)
                grad_b += g * score
                n_steps += 1
    assert n_steps == buffer.n_used_steps
    if n_envs > 1:
        assert buffer.n_unused_steps > 0  # the test also covers steps that must be left out

    model.train()
    new_weight = model.policy.action_net.weight.detach().numpy()
    new_bias = model.policy.action_net.bias.detach().numpy()
    np.testing.assert_allclose(new_weight - weight, lr * grad_w / n_steps, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(new_bias - bias, lr * grad_b / n_steps, rtol=1e-4, atol=1e-6)


def test_entropy_bonus_increases_the_entropy():
    """Advantages are all 0 (one-step episodes, equal returns, normalised): only the entropy term moves the policy."""
    env = make_vec_env(lambda: TimeLimit(ConstantRewardEnv(), max_episode_steps=1), seed=0)
    obs = th.tensor([[0.5, -0.5]])

    def entropy(model: REINFORCE) -> float:
        with th.no_grad():
            return float(model.policy.get_distribution(obs).entropy().item())

    for ent_coef, sign in ((0.5, 1), (0.0, 0)):
        model = REINFORCE("MlpPolicy", env, n_episodes=8, ent_coef=ent_coef, policy_kwargs=dict(log_std_init=0.0), seed=1)
        # start from a confident policy, so that the entropy has room to grow
        with th.no_grad():
            model.policy.action_net.bias.copy_(th.tensor([2.0, -2.0]))
        start = entropy(model)
        model.learn(40)
        assert np.sign(round(entropy(model) - start, 6)) == sign, (ent_coef, start, entropy(model))


# ---------------------------------------------------------------------------------------------------------------
# batch_size: gradient accumulation bounds memory and changes nothing else


def test_batch_size_only_bounds_memory():
    """Accumulating gradients over chunks gives the same update as the whole batch at once."""
    results, initial = [], None
    for batch_size in (None, 7):
        model = REINFORCE(
            "MlpPolicy",
            make_vec_env(RandomRewardEnv, n_envs=2, seed=0),
            n_episodes=6,
            use_baseline=True,
            ent_coef=0.01,
            batch_size=batch_size,
            seed=0,
            device="cpu",
        )
        initial = initial or params_of(model)
        model.learn(total_timesteps=1)  # one rollout, one update
        assert model._n_updates == 1 and model.rollout_buffer.n_used_steps > 7
        results.append(params_of(model))
    # the update moved every parameter (policy and value), so the comparison below compares two real updates
    for name in initial:
        assert not th.allclose(initial[name], results[0][name]), name
    for name in results[0]:
        th.testing.assert_close(results[0][name], results[1][name], rtol=1e-5, atol=1e-6)


def test_update_never_evaluates_more_than_batch_size_steps(monkeypatch):
    """Memory stays bounded: the update's forward passes see at most batch_size steps, and all steps once."""
    env = make_vec_env(RandomRewardEnv, n_envs=2, seed=0)
    # without carrying: no log-likelihood of carried steps to evaluate before the update
    model = REINFORCE("MlpPolicy", env, n_episodes=8, batch_size=5, carry_episodes=False, seed=0)
    one_rollout(model)
    seen = []
    get_distribution = model.policy.get_distribution

    def spy(obs, action_masks=None):
        seen.append(len(obs))
        return get_distribution(obs, action_masks)

    monkeypatch.setattr(model.policy, "get_distribution", spy)
    model.train()
    assert max(seen) <= 5
    assert sum(seen) == model.rollout_buffer.n_used_steps > 5


# ---------------------------------------------------------------------------------------------------------------
# A non-finite loss or gradient raises before any parameter changes


def test_non_finite_loss_raises_before_any_parameter_changes(monkeypatch):
    model = REINFORCE("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    model.learn(100)
    before = params_of(model)
    evaluate = model._baseline.evaluate

    def nan_log_prob(policy, samples, actions):
        log_prob, entropy, values = evaluate(policy, samples, actions)
        return log_prob * float("nan"), entropy, values

    monkeypatch.setattr(model._baseline, "evaluate", nan_log_prob)
    with pytest.raises(ValueError, match="loss is not finite"):
        model.learn(100, reset_num_timesteps=False)
    assert_params_equal(before, params_of(model))
    assert all(p.grad is None or not p.grad.abs().sum() for p in model.policy.parameters())


def test_non_finite_gradient_norm_raises_before_any_parameter_changes():
    model = REINFORCE("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    model.learn(100)
    before = params_of(model)
    # the loss stays finite; the gradient of one parameter becomes infinite on the way back
    model.policy.action_net.bias.register_hook(lambda grad: grad * math.inf)
    with pytest.raises(ValueError, match="gradient norm is not finite"):
        model.learn(100, reset_num_timesteps=False)
    assert_params_equal(before, params_of(model))
