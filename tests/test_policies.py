"""REINFORCEPolicy: no value network without a learned baseline (so no separate value trunk either), and a rollout
sampler that draws exactly the actions of SB3's distributions."""

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.envs import IdentityEnvMultiBinary

from sb3_reinforce import REINFORCE

# ---------------------------------------------------------------------------------------------------------------
# The value network exists only for baseline="value"


def test_no_value_network_without_baseline(tmp_path):
    model = REINFORCE("MlpPolicy", "CartPole-v1", policy_kwargs=dict(share_features_extractor=True), device="cpu")
    assert model.policy.value_net is None
    names = list(model.policy.state_dict())
    assert not any("value" in name or "vf" in name for name in names), names
    with pytest.raises(RuntimeError, match="no value network"):
        model.policy.predict_values(th.zeros((1, 4)))
    model.learn(500)
    model.save(tmp_path / "model")
    loaded = REINFORCE.load(tmp_path / "model", device="cpu")
    assert loaded.policy.value_net is None
    assert list(loaded.policy.state_dict()) == names

    with_baseline = REINFORCE("MlpPolicy", "CartPole-v1", use_baseline=True, device="cpu")
    assert with_baseline.policy.value_net is not None
    n_without = sum(p.numel() for p in model.policy.parameters())
    n_with = sum(p.numel() for p in with_baseline.policy.parameters())
    assert n_with > n_without


def test_no_value_net_ignores_separate_trunk_request():
    with pytest.warns(UserWarning, match="share_features_extractor"):
        model = REINFORCE("MlpPolicy", "CartPole-v1", policy_kwargs=dict(share_features_extractor=False), device="cpu")
    assert model.policy.vf_features_extractor is model.policy.pi_features_extractor


# ---------------------------------------------------------------------------------------------------------------
# The rollout's sampler


def _spread_action_net(policy) -> None:
    """Far-from-uniform action probabilities (the init's are near 0.5 each), so a wrong sampler shows."""
    generator = th.Generator().manual_seed(0)
    with th.no_grad():
        policy.action_net.weight.copy_(th.randn(policy.action_net.weight.shape, generator=generator))
        policy.action_net.bias.copy_(2 * th.randn(policy.action_net.bias.shape, generator=generator))


@pytest.mark.parametrize(
    "env_id, use_value_net, share",
    [
        ("CartPole-v1", False, True),  # categorical
        ("CartPole-v1", True, False),  # categorical, value net on its own trunk
        ("Pendulum-v1", False, True),  # diagonal Gaussian
        ("Pendulum-v1", True, True),
    ],
)
def test_sample_actions_draws_what_the_distribution_draws(env_id, use_value_net, share):
    """The rollout's sampler plays, for the same random state, exactly the actions of SB3's distribution."""
    model = REINFORCE(
        "MlpPolicy", env_id, use_baseline=use_value_net, policy_kwargs=dict(share_features_extractor=share), seed=0
    )
    policy = model.policy
    _spread_action_net(policy)
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(64)]))
    with th.no_grad():
        th.manual_seed(1)
        actions, values = policy.sample_actions(obs)
        th.manual_seed(1)
        expected_actions, expected_values, _ = policy.forward(obs)
    assert actions.shape == expected_actions.shape == (64, *model.action_space.shape)
    assert th.equal(actions, expected_actions)
    if use_value_net:
        assert th.equal(values, expected_values)
    else:
        assert values is None


def test_sample_actions_draws_what_the_distribution_draws_for_bits():
    """Bernoulli (MultiBinary) actions: the same draws as SB3's BernoulliDistribution."""
    model = REINFORCE("MlpPolicy", IdentityEnvMultiBinary(dim=3, ep_length=5), seed=0)
    _spread_action_net(model.policy)
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(64)]), dtype=th.float32)
    with th.no_grad():
        th.manual_seed(2)
        actions, _ = model.policy.sample_actions(obs)
        th.manual_seed(2)
        expected, _, _ = model.policy.forward(obs)
    assert actions.shape == (64, 3)
    assert th.equal(actions, expected)


class _ScaledFlatten(th.nn.Module):
    """A features extractor that is not the identity: the rollout must run it."""

    def __init__(self, observation_space, features_dim: int = 4):
        super().__init__()
        self.features_dim = features_dim

    def forward(self, obs):
        return 3.0 * obs.flatten(1)


@pytest.mark.parametrize(
    "env_id, policy_kwargs, skips_extractor",
    [
        ("CartPole-v1", {}, True),  # a flat Box through SB3's FlattenExtractor: the identity after obs.float()
        ("FrozenLake-v1", {}, False),  # a Discrete observation is one-hot encoded by SB3's preprocessing
        ("CartPole-v1", dict(features_extractor_class=_ScaledFlatten), False),
    ],
)
def test_rollout_latent_is_the_extractors_latent(env_id, policy_kwargs, skips_extractor):
    """The rollout's shortcut past the features extractor is taken only where the extractor is the identity."""
    from stable_baselines3.common.policies import BaseModel

    model = REINFORCE("MlpPolicy", env_id, policy_kwargs=policy_kwargs, seed=0)
    policy = model.policy
    assert policy._features_are_observations is skips_extractor
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(8)]))
    with th.no_grad():
        latent, _ = policy._latent_pi_and_values(obs)
        features = BaseModel.extract_features(policy, obs, policy.pi_features_extractor)
        expected = policy.mlp_extractor.forward_actor(features)
    assert th.equal(latent, expected)
