"""Policies for REINFORCE: SB3's actor-critic policies whose value network exists only when it is used."""

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import (
    BernoulliDistribution,
    CategoricalDistribution,
    DiagGaussianDistribution,
    Distribution,
)
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel, BasePolicy
from stable_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor, MlpExtractor, NatureCNN
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule

from sb3_reinforce.masking import build_masked_head, masked_distribution
from sb3_reinforce.type_aliases import EpisodicRolloutBufferSamples


class without_distribution_validation:
    """
    Turn off torch's argument validation of distributions for the duration of the block (and only then): while
    collecting, the parameters come from the policy and the actions are the distribution's own samples, so the
    checks cost time (about a tenth of a CartPole rollout) and can fail on nothing.
    """

    def __enter__(self) -> None:
        self.previous = th.distributions.Distribution._validate_args
        th.distributions.Distribution.set_default_validate_args(False)

    def __exit__(self, *exc_info: object) -> None:
        th.distributions.Distribution.set_default_validate_args(self.previous)


def new_optimizer(policy: BasePolicy, params: Iterable[th.nn.Parameter], learning_rate: float) -> th.optim.Optimizer:
    """
    ``policy.optimizer_class`` over ``params``, with the policy's ``optimizer_kwargs``, as SB3's ``_build`` makes it.

    :param policy: The policy whose optimizer class and arguments are used
    :param params: The parameters to optimise
    :param learning_rate: The initial learning rate
    """
    # SB3 types optimizer_class as type[Optimizer], whose constructor has no ``lr``: every optimizer torch has does
    return policy.optimizer_class(params, lr=learning_rate, **policy.optimizer_kwargs)  # type: ignore[call-arg]


class REINFORCEPolicy(ActorCriticPolicy):
    """
    Policy for REINFORCE: SB3's ``ActorCriticPolicy`` with an optional value network.

    With ``use_value_net=False`` (REINFORCE without a learned baseline) the policy has no value network at all:
    no value head, no value layers in the MLP extractor and no second features extractor, so nothing of it is
    trained, computed or saved. ``forward`` and ``evaluate_actions`` then return ``None`` in place of the values.
    With ``use_value_net=True`` it is exactly SB3's ``ActorCriticPolicy`` (shared or separate trunks via
    ``net_arch`` and ``share_features_extractor``).

    :param observation_space: Observation space
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule (could be constant)
    :param use_value_net: Whether to build the value network V(s) used as a learned baseline
    :param use_action_masks: Whether the action distribution takes masks of the valid actions (sb3-contrib's
        maskable distribution and its action head, see :mod:`sb3_reinforce.masking`); ``REINFORCE`` sets it when
        its env has an ``action_masks()`` method
    :param kwargs: Every other argument of ``ActorCriticPolicy`` (``net_arch``, ``activation_fn``,
        ``ortho_init``, ``log_std_init``, ``features_extractor_class``, ``optimizer_class``, ...)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        use_value_net: bool = False,
        use_action_masks: bool = False,
        **kwargs: Any,
    ):
        self.use_value_net = use_value_net
        self.use_action_masks = use_action_masks
        if not use_value_net:
            if not kwargs.get("share_features_extractor", True):
                warnings.warn(
                    "share_features_extractor=False has no effect without a value network (use_value_net=False): "
                    "there is no second features extractor to build.",
                    UserWarning,
                )
            kwargs["share_features_extractor"] = True
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            use_value_net=self.use_value_net,
            use_action_masks=self.use_action_masks,
            share_features_extractor=self.share_features_extractor,
        )
        return data

    def _build_mlp_extractor(self) -> None:
        self.mlp_extractor = mlp_extractor(
            self.features_dim, self.net_arch, self.activation_fn, self.device, self.use_value_net
        )

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        if not self.use_value_net:
            # drop the value head SB3 always builds
            self.value_net = None  # type: ignore[assignment]  # SB3 types it a module: here there is none
        if self.use_action_masks:
            build_masked_head(self, self.mlp_extractor.latent_dim_pi)
        if self.use_action_masks or not self.use_value_net:
            # SB3's optimizer holds the parameters of the heads replaced or dropped: one over the policy's own
            self.optimizer = new_optimizer(self, self.parameters(), lr_schedule(1))
        # A flat Box observation through one FlattenExtractor: SB3's preprocessing is ``obs.float()`` and the
        # extractor is the identity on (batch, obs_dim), so a rollout step can skip both calls
        self._features_are_observations = (
            self.share_features_extractor
            and type(self.features_extractor) is FlattenExtractor
            and isinstance(self.observation_space, spaces.Box)
            and len(self.observation_space.shape) == 1
        )

    def forward(self, obs: th.Tensor, deterministic: bool = False) -> tuple[th.Tensor, th.Tensor | None, th.Tensor]:  # type: ignore[override]  # values None
        """
        :param obs: Observation
        :param deterministic: Whether to sample or use deterministic actions
        :return: action, value (None without a value network) and log probability of the action
        """
        if self.use_value_net:
            return super().forward(obs, deterministic)
        distribution = self.get_distribution(obs)
        actions = distribution.get_actions(deterministic=deterministic)
        log_prob = distribution.log_prob(actions)
        return actions.reshape((-1, *(self.action_space.shape or ()))), None, log_prob

    def sample_actions(self, obs: PyTorchObs, action_masks: Any = None) -> tuple[th.Tensor, th.Tensor | None]:
        """
        What a rollout needs from the policy: ``forward`` without the log-probability of the actions, which
        REINFORCE recomputes at update time (computing it while collecting would be thrown away).

        For categorical, Bernoulli and diagonal Gaussian actions it samples from the action net's output directly,
        without building a ``torch.distributions`` object (its argument checks, normalisation and lazy properties
        cost more than the network on small inputs). It draws the same random numbers in the same way as those
        distributions' ``sample``, so a seeded run plays the same actions as ``forward``. Other distributions
        (multi-categorical, gSDE) go through SB3's distribution, without torch's argument checks.

        :param obs: Observation
        :param action_masks: Masks of the valid actions (a maskable policy only, see :mod:`sb3_reinforce.masking`)
        :return: sampled actions, and the values (None without a value network)
        """
        latent_pi, values = self._latent_pi_and_values(obs)
        actions = self._sample_from_latent(latent_pi, action_masks)
        return actions.reshape((-1, *(self.action_space.shape or ()))), values

    def _latent_pi_and_values(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor | None]:
        """The policy's latent features and V(s) (None without a value network), from one pass of the extractors."""
        # obs: a tensor, or a dict of them for a Dict space (which never takes the shortcut)
        features = obs.float() if self._features_are_observations else self.extract_features(obs)  # type: ignore[union-attr]  # no dict here
        if not self.share_features_extractor:
            pi_features, vf_features = features
            return self.mlp_extractor.forward_actor(pi_features), self.value_net(
                self.mlp_extractor.forward_critic(vf_features)
            )
        latent_pi = self.mlp_extractor.forward_actor(features)  # type: ignore[arg-type]  # one extractor: a tensor
        if not self.use_value_net:
            return latent_pi, None
        return latent_pi, self.value_net(self.mlp_extractor.forward_critic(features))  # type: ignore[arg-type]  # as above

    def _sample_from_latent(self, latent_pi: th.Tensor, action_masks: Any = None) -> th.Tensor:
        """Actions sampled from the distribution the policy's latent features parametrise."""
        if action_masks is not None or self.use_action_masks:
            with without_distribution_validation():
                return self._get_action_dist_from_latent(latent_pi, action_masks).get_actions()
        if isinstance(self.action_dist, CategoricalDistribution):
            # (n_envs, n_actions) -> (n_envs,): what torch's Categorical.sample does, less its checks
            probs = th.softmax(self.action_net(latent_pi), dim=-1)
            return th.multinomial(probs, 1, True).squeeze(-1)
        if isinstance(self.action_dist, BernoulliDistribution):
            # (n_envs, n_bits): torch's Bernoulli.sample
            return th.bernoulli(th.sigmoid(self.action_net(latent_pi)))
        if isinstance(self.action_dist, DiagGaussianDistribution):
            # (n_envs, action_dim): torch's Normal.rsample, mean + eps * std with eps ~ N(0, 1)
            mean = self.action_net(latent_pi)
            return mean + th.randn_like(mean) * self.log_std.exp()
        with without_distribution_validation():
            return self._get_action_dist_from_latent(latent_pi).get_actions()

    def evaluate_actions(  # type: ignore[override]  # the masks; values None without a value network
        self, obs: PyTorchObs, actions: th.Tensor, action_masks: Any = None
    ) -> tuple[th.Tensor | None, th.Tensor, th.Tensor | None]:
        """
        :param obs: Observation
        :param actions: Actions
        :param action_masks: Masks of the valid actions (a maskable policy only)
        :return: estimated value (None without a value network), log likelihood of the actions
            and entropy of the action distribution.
        """
        latent_pi, values = self._latent_pi_and_values(obs)
        distribution = self._get_action_dist_from_latent(latent_pi, action_masks)
        return values, distribution.log_prob(actions), distribution.entropy()

    def evaluate_samples(
        self, samples: EpisodicRolloutBufferSamples, actions: th.Tensor, with_values: bool = False
    ) -> tuple[th.Tensor | None, th.Tensor, th.Tensor | None]:
        """
        What the update needs of a chunk of the batch: ``evaluate_actions`` of its observations and actions (with
        the masks they were sampled under), or only the actor's part of it without ``with_values``.

        :param samples: The chunk
        :param actions: Its actions, as the distribution takes them
        :param with_values: Whether V(s) is needed (a value network fitted in the policy's step)
        :return: V(s) (None without ``with_values``), the log-likelihood of the actions and the entropy
        """
        if with_values:
            return self.evaluate_actions(samples.observations, actions, samples.action_masks)
        distribution = self.get_distribution(samples.observations, samples.action_masks)
        return None, distribution.log_prob(actions), distribution.entropy()

    def get_distribution(self, obs: PyTorchObs, action_masks: Any = None) -> Distribution:
        """
        :param obs: Observation
        :param action_masks: Masks of the valid actions (a maskable policy only)
        :return: the action distribution
        """
        features = BaseModel.extract_features(self, obs, self.pi_features_extractor)
        return self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(features), action_masks)

    def _get_action_dist_from_latent(self, latent_pi: th.Tensor, action_masks: Any = None) -> Distribution:
        """SB3's action distribution of the latent features, or the maskable one with the masks applied."""
        return masked_distribution(self, latent_pi, action_masks) or super()._get_action_dist_from_latent(latent_pi)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False, action_masks: Any = None) -> th.Tensor:
        return self.get_distribution(observation, action_masks).get_actions(deterministic=deterministic)

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """SB3's ``predict``, with the masks of the observations' valid actions (a maskable policy only)."""
        if action_masks is None:
            return super().predict(observation, state, episode_start, deterministic)
        self.set_training_mode(False)
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)
        with th.no_grad():
            actions = self._predict(obs_tensor, deterministic=deterministic, action_masks=action_masks)
        action_shape: tuple[int, ...] = self.action_space.shape or ()
        actions_array = actions.cpu().numpy().reshape((-1, *action_shape))
        if not vectorized_env:
            actions_array = actions_array.squeeze(axis=0)
        return actions_array, None

    def value_parameters(self) -> list[th.nn.Parameter]:
        """
        The parameters only V(s) uses: its MLP branch, its head, and its features extractor when it has its own
        (``share_features_extractor=False``). A value baseline fitted on its own trains these and nothing else.
        """
        if not self.use_value_net:
            raise RuntimeError("This policy has no value network: it was built with use_value_net=False.")
        modules: list[th.nn.Module] = [self.mlp_extractor.value_net, self.value_net]
        if not self.share_features_extractor:
            modules.append(self.vf_features_extractor)
        return [param for module in modules for param in module.parameters()]

    def values_for_fit(self, samples: EpisodicRolloutBufferSamples) -> th.Tensor:
        """
        V(s) of a chunk of the batch, shape (batch,), with gradients only into :meth:`value_parameters`: a
        features extractor shared with the policy is evaluated without gradient, so fitting V leaves the policy's
        trunk as it is.

        :param samples: The chunk
        """
        obs = samples.observations
        if not self.use_value_net:
            raise RuntimeError("This policy has no value network: it was built with use_value_net=False.")
        # BaseModel's extract_features: one given extractor (ActorCriticPolicy's returns both when not shared); a
        # shared one is the policy's (vf_features_extractor is then features_extractor): no gradient into it
        with th.set_grad_enabled(th.is_grad_enabled() and not self.share_features_extractor):
            features = BaseModel.extract_features(self, obs, self.vf_features_extractor)
        return self.value_net(self.mlp_extractor.forward_critic(features)).flatten()

    def predict_values(self, obs: PyTorchObs) -> th.Tensor:
        if not self.use_value_net:
            raise RuntimeError("This policy has no value network: it was built with use_value_net=False.")
        return super().predict_values(obs)


def mlp_extractor(
    input_dim: int,
    net_arch: list[int] | dict[str, list[int]],
    activation_fn: type[th.nn.Module],
    device: th.device | str,
    use_value_net: bool,
) -> MlpExtractor:
    """SB3's ``MlpExtractor``, without value layers when there is no value network (its value branch is then an
    identity with no parameters)."""
    if not use_value_net:
        pi_layers = net_arch.get("pi", []) if isinstance(net_arch, dict) else net_arch
        net_arch = dict(pi=list(pi_layers), vf=[])
    return MlpExtractor(input_dim, net_arch=net_arch, activation_fn=activation_fn, device=device)


class REINFORCECnnPolicy(REINFORCEPolicy):
    """
    :class:`REINFORCEPolicy` with SB3's ``NatureCNN`` features extractor for image observations.
    Same arguments as :class:`REINFORCEPolicy`.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        use_value_net: bool = False,
        **kwargs: Any,
    ):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(observation_space, action_space, lr_schedule, use_value_net, **kwargs)


class REINFORCEMultiInputPolicy(REINFORCEPolicy):
    """
    :class:`REINFORCEPolicy` with SB3's ``CombinedExtractor`` for ``Dict`` observations.
    Same arguments as :class:`REINFORCEPolicy`.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        use_value_net: bool = False,
        **kwargs: Any,
    ):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(observation_space, action_space, lr_schedule, use_value_net, **kwargs)


MlpPolicy = REINFORCEPolicy
CnnPolicy = REINFORCECnnPolicy
MultiInputPolicy = REINFORCEMultiInputPolicy
