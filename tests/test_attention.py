"""sb3_reinforce.attention: the attention encoder-decoder for routing, as REINFORCE's AttentionPolicy and as a
features extractor; each instance is encoded once (per batch, and per episode while collecting), masks hold, and the
policy saves, loads, predicts and trains with groups and a value baseline."""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env

import sb3_reinforce.envs  # noqa: F401  (registers TSP20-v0)
from sb3_reinforce import REINFORCE
from sb3_reinforce.attention import MASKED_LOGIT, AttentionExtractor, AttentionPolicy
from sb3_reinforce.routing import TSPEnv

SMALL = dict(embed_dim=16, n_heads=2, n_layers=1, ff_hidden=32)


def small_model(num_nodes: int = 6, n_envs: int = 4, **kwargs) -> REINFORCE:
    env = make_vec_env(TSPEnv, n_envs=n_envs, seed=0, env_kwargs=dict(num_nodes=num_nodes))
    policy_kwargs = {"features_extractor_kwargs": SMALL, **kwargs.pop("policy_kwargs", {})}
    return REINFORCE("AttentionPolicy", env, n_episodes=8, seed=0, policy_kwargs=policy_kwargs, **kwargs)


def observations(num_nodes: int, n_instances: int, steps: int, seed: int = 0) -> np.ndarray:
    """(n_instances, num_nodes, obs_dim): every state of one random tour per instance, the first `steps` of them."""
    rng = np.random.default_rng(seed)
    env = TSPEnv(num_nodes=num_nodes)
    states = []
    for instance in range(n_instances):
        obs, _ = env.reset(seed=seed + instance)
        episode = [obs]
        for action in rng.permutation(num_nodes)[: steps - 1]:
            obs, *_ = env.step(action)
            episode.append(obs)
        states.append(episode)
    return np.array(states)


def test_attention_policy_by_name_masks_and_points_with_the_logits_as_they_are():
    model = small_model()
    policy = model.policy
    assert isinstance(policy, AttentionPolicy) and policy.use_action_masks
    assert isinstance(policy.action_net, th.nn.Identity) and policy.value_net is None
    # the optimizer holds every parameter of the policy, and nothing else
    optimized = {id(p) for group in policy.optimizer.param_groups for p in group["params"]}
    assert optimized == {id(p) for p in policy.parameters()}
    obs = th.as_tensor(observations(6, 3, 4)[:, 3])  # after 3 visits
    with th.no_grad():
        distribution = policy.get_distribution(obs)
    visited = obs[:, 12:18] > 0.5
    assert th.all(distribution.distribution.probs[visited] == 0)
    assert th.allclose(distribution.distribution.probs.sum(-1), th.ones(3))


def test_training_never_plays_a_visited_node_and_the_episodes_are_whole_tours():
    """The env refuses a visited node (ValueError): a rollout that broke a mask would fail."""
    model = small_model(group_size=4)
    tours = []

    def record(locals_, globals_):
        tours.extend(info["tour_length"] for info in locals_["infos"] if "tour_length" in info)
        return True

    model.learn(6 * 8 * 3, callback=record)
    assert len(tours) >= 8 * 3 and all(0 < length < 6 * np.sqrt(2) for length in tours)
    # grouped: the group's 4 episodes solved one instance (here, each rollout has 2 groups of 4 episodes)
    assert model.rollout_buffer.group_size == 4


def count_encodings(extractor: AttentionExtractor) -> list[int]:
    """The number of instances of each call of the extractor's encoder, from now on."""
    calls: list[int] = []
    encode = extractor.encode

    def counting_encode(nodes):
        calls.append(len(nodes))
        return encode(nodes)

    extractor.encode = counting_encode
    return calls


def test_each_instance_is_encoded_once_per_batch_with_the_same_result():
    extractor = AttentionExtractor(spaces.Box(0, 1, (6 * 5,), np.float32), num_nodes=6, **SMALL)
    states = th.as_tensor(observations(6, 3, 5)).flatten(0, 1)  # 15 states of 3 instances
    calls = count_encodings(extractor)
    with th.enable_grad():
        deduplicated = extractor(states)
    assert calls == [3]
    with th.enable_grad():
        one_by_one = th.cat([extractor(state[None]) for state in states])
    th.testing.assert_close(deduplicated, one_by_one)
    deduplicated.sum().backward()  # gradients flow through the shared encodings
    assert extractor.node_embedding.weight.grad is not None


def test_while_collecting_an_encoding_is_kept_until_its_instance_changes():
    extractor = AttentionExtractor(spaces.Box(0, 1, (6 * 5,), np.float32), num_nodes=6, **SMALL)
    extractor.eval()
    states = th.as_tensor(observations(6, 4, 6))  # (4 envs, 6 steps, obs)
    calls = count_encodings(extractor)
    with th.no_grad():
        outputs = [extractor(states[:, step]) for step in range(6)]
        # env 2 starts a new instance: only it is encoded again
        new_instance = states[:, 0].clone()
        new_instance[2, :12] = th.as_tensor(observations(6, 1, 1, seed=99)[0, 0, :12])
        changed = extractor(new_instance)
    assert calls == [4, 1]
    del extractor.encode  # the class's encoder again
    extractor.train()  # clears what was kept
    with th.no_grad():
        for step in range(6):
            th.testing.assert_close(outputs[step], extractor(states[:, step]))
        th.testing.assert_close(changed, extractor(new_instance))


def test_visited_nodes_get_the_masked_logit():
    extractor = AttentionExtractor(spaces.Box(0, 1, (5 * 5,), np.float32), num_nodes=5, **SMALL)
    states = th.as_tensor(observations(5, 2, 4)[:, 3])
    features = extractor(states)
    visited = states[:, 10:15] > 0.5
    assert th.all(features[:, :5][visited] == MASKED_LOGIT) and th.all(features[:, :5][~visited] > MASKED_LOGIT)
    assert features.shape == (2, 5 + 3 * 16)


def test_save_load_predict_with_masks(tmp_path):
    model = small_model()
    model.learn(6 * 8)
    obs = observations(6, 5, 3)[:, 2]
    masks = obs[:, 12:18] < 0.5
    actions, _ = model.predict(obs, deterministic=True, action_masks=masks)
    assert masks[np.arange(5), actions].all()
    model.save(tmp_path / "tsp")
    loaded = REINFORCE.load(tmp_path / "tsp", device="cpu")
    assert isinstance(loaded.policy, AttentionPolicy)
    assert loaded.policy.features_extractor.embed_dim == SMALL["embed_dim"]
    loaded_actions, _ = loaded.predict(obs, deterministic=True, action_masks=masks)
    assert np.array_equal(actions, loaded_actions)


def test_a_value_baseline_reads_the_context():
    model = small_model(use_baseline=True, policy_kwargs=dict(net_arch=[32]))
    assert model.policy.value_net is not None
    assert model.policy.mlp_extractor.latent_dim_vf == 32
    model.learn(6 * 8 * 2)
    assert np.isfinite(model.logger.name_to_value["train/value_loss"])


def test_the_extractor_as_a_policy_kwargs_option_of_mlp_policy():
    env = make_vec_env(TSPEnv, n_envs=2, seed=0, env_kwargs=dict(num_nodes=5))
    policy_kwargs = dict(features_extractor_class=AttentionExtractor, features_extractor_kwargs=dict(num_nodes=5, **SMALL))
    model = REINFORCE("MlpPolicy", env, n_episodes=4, policy_kwargs=policy_kwargs, seed=0)
    assert isinstance(model.policy.features_extractor, AttentionExtractor)
    model.learn(5 * 4)


def test_bad_observations_and_arguments_name_the_problem():
    with pytest.raises(ValueError, match="flat Box"):
        AttentionExtractor(spaces.Box(0, 1, (4, 5), np.float32), num_nodes=4)
    with pytest.raises(ValueError, match="does not hold 4 nodes"):
        AttentionExtractor(spaces.Box(0, 1, (13,), np.float32), num_nodes=4)
    with pytest.raises(ValueError, match="multiple of n_heads"):
        AttentionExtractor(spaces.Box(0, 1, (20,), np.float32), num_nodes=4, embed_dim=10, n_heads=4)
    with pytest.raises(ValueError, match="Discrete action space"):
        REINFORCE("AttentionPolicy", "Pendulum-v1")
