"""
Invalid-action masking, through sb3-contrib's protocol: the env has a method ``action_masks()`` (read with
``sb3_contrib.common.maskable.utils.get_action_masks``), the policy's distribution is one of sb3-contrib's maskable
distributions, and ``predict(..., action_masks=...)`` takes the masks, so that sb3-contrib's maskable
``evaluate_policy`` and ``MaskableEvalCallback`` work. ``REINFORCE`` picks a maskable policy in ``_setup_model``
when its env has ``action_masks()``; the masks are stored in the rollout buffer and applied again when the
log-likelihoods and entropies are recomputed for the update.
"""

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.distributions import MaskableDistribution, make_masked_proba_distribution
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.common.vec_env import VecEnv

from sb3_reinforce.policies import (
    REINFORCECnnPolicy,
    REINFORCEMultiInputPolicy,
    REINFORCEPolicy,
    without_distribution_validation,
)

#: A function of the env giving the masks of every env's actions for the next step, or None without masking
MaskSource = Callable[[VecEnv], np.ndarray | None]


def mask_dim(action_space: spaces.Space) -> int:
    """The length of one env's action mask, as sb3-contrib's maskable distributions read it."""
    if isinstance(action_space, spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, spaces.MultiDiscrete):
        return int(np.sum(action_space.nvec))
    if isinstance(action_space, spaces.MultiBinary):
        return 2 * int(np.prod(action_space.shape))  # a two-way choice per bit
    raise ValueError(
        f"Action masking needs Discrete, MultiDiscrete or MultiBinary actions, got {action_space}: the env has an "
        "action_masks() method that cannot apply to them"
    )


def no_masks(env: VecEnv) -> None:
    """The mask source of an env without ``action_masks()``."""
    return None


def mask_source(env: VecEnv | None) -> MaskSource:
    """``get_action_masks`` when ``env`` has an ``action_masks()`` method, else :func:`no_masks`."""
    return get_action_masks if env is not None and is_masking_supported(env) else no_masks


class MaskableHeadMixin:
    """
    The action head of a maskable policy: sb3-contrib's maskable distribution in place of SB3's, and
    ``_get_action_dist_from_latent`` and ``_sample_from_latent`` that take ``action_masks``, an array of shape
    ``(batch, mask_dim)`` of booleans, True for the valid actions.
    """

    action_dist: MaskableDistribution

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)  # type: ignore[misc]
        # sb3-contrib's distribution and its action head in place of SB3's (MultiBinary: two logits per bit)
        self.action_dist = make_masked_proba_distribution(self.action_space)  # type: ignore[attr-defined]
        self.action_net = self.action_dist.proba_distribution_net(latent_dim=self.mlp_extractor.latent_dim_pi)  # type: ignore[attr-defined]
        if self.ortho_init:  # type: ignore[attr-defined]
            self.action_net.apply(partial(self.init_weights, gain=0.01))  # type: ignore[attr-defined]
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[attr-defined]

    def _get_action_dist_from_latent(self, latent_pi: th.Tensor, action_masks: Any = None) -> MaskableDistribution:
        distribution = self.action_dist.proba_distribution(action_logits=self.action_net(latent_pi))
        if action_masks is not None:
            distribution.apply_masking(action_masks)
        return distribution

    def _sample_from_latent(self, latent_pi: th.Tensor, action_masks: Any = None) -> th.Tensor:
        with without_distribution_validation():
            return self._get_action_dist_from_latent(latent_pi, action_masks).get_actions()


class MaskableMixin(MaskableHeadMixin):
    """
    Turns a :class:`~sb3_reinforce.policies.REINFORCEPolicy` into one whose action distribution takes masks: the
    action head comes from sb3-contrib's maskable distribution, and every method that builds the distribution
    (sampling, ``evaluate_actions``, ``get_distribution``, ``predict``) takes ``action_masks``, an array of shape
    ``(batch, mask_dim)`` of booleans, True for the valid actions.
    """

    def get_distribution(self, obs: PyTorchObs, action_masks: Any = None) -> MaskableDistribution:
        features = self.extract_features(obs, self.pi_features_extractor)  # type: ignore[attr-defined]
        return self._get_action_dist_from_latent(self.mlp_extractor.forward_actor(features), action_masks)  # type: ignore[attr-defined]

    def evaluate_actions(
        self, obs: PyTorchObs, actions: th.Tensor, action_masks: Any = None
    ) -> tuple[th.Tensor | None, th.Tensor, th.Tensor | None]:
        latent_pi, values = self._latent_pi_and_values(obs)  # type: ignore[attr-defined]
        distribution = self._get_action_dist_from_latent(latent_pi, action_masks)
        return values, distribution.log_prob(actions), distribution.entropy()

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
        """SB3's ``predict``, with the masks of the observations' valid actions (None: every action is valid)."""
        self.set_training_mode(False)  # type: ignore[attr-defined]
        obs_tensor, vectorized_env = self.obs_to_tensor(observation)  # type: ignore[attr-defined]
        with th.no_grad():
            actions = self._predict(obs_tensor, deterministic=deterministic, action_masks=action_masks)
        actions = actions.cpu().numpy().reshape((-1, *self.action_space.shape))  # type: ignore[attr-defined]
        if not vectorized_env:
            actions = actions.squeeze(axis=0)
        return actions, None


class MaskableREINFORCEPolicy(MaskableMixin, REINFORCEPolicy):
    """:class:`~sb3_reinforce.policies.REINFORCEPolicy` (``MlpPolicy``) with action masks."""


class MaskableREINFORCECnnPolicy(MaskableMixin, REINFORCECnnPolicy):
    """:class:`~sb3_reinforce.policies.REINFORCECnnPolicy` (``CnnPolicy``) with action masks."""


class MaskableREINFORCEMultiInputPolicy(MaskableMixin, REINFORCEMultiInputPolicy):
    """:class:`~sb3_reinforce.policies.REINFORCEMultiInputPolicy` (``MultiInputPolicy``) with action masks."""


_MASKABLE: dict[type, type] = {
    REINFORCEPolicy: MaskableREINFORCEPolicy,
    REINFORCECnnPolicy: MaskableREINFORCECnnPolicy,
    REINFORCEMultiInputPolicy: MaskableREINFORCEMultiInputPolicy,
}
# the mixin that makes a policy family maskable, by the family's base class
_MIXINS: dict[type, type] = {REINFORCEPolicy: MaskableMixin}


def register_maskable(policy_base: type, mixin: type, maskable: dict[type, type]) -> None:
    """
    Make a family of policies maskable: ``mixin`` on top of a subclass of ``policy_base``, and ``maskable`` maps
    the family's own classes to their maskable versions.
    """
    _MIXINS[policy_base] = mixin
    _MASKABLE.update(maskable)


def maskable_policy_class(policy_class: type) -> type:
    """The maskable version of a REINFORCE policy class (itself when it is maskable already)."""
    if issubclass(policy_class, MaskableHeadMixin):
        return policy_class
    if policy_class in _MASKABLE:
        return _MASKABLE[policy_class]
    # a user's subclass: the mixin of its family on top of it
    mixin = next(_MIXINS[base] for base in policy_class.__mro__ if base in _MIXINS)
    return type(f"Maskable{policy_class.__name__}", (mixin, policy_class), {})
