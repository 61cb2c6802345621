"""
Invalid-action masking, through sb3-contrib's protocol: the env has a method ``action_masks()`` (read with
``sb3_contrib.common.maskable.utils.get_action_masks``), the policy's distribution is one of sb3-contrib's maskable
distributions, and ``predict(..., action_masks=...)`` takes the masks, so that sb3-contrib's maskable
``evaluate_policy`` and ``MaskableEvalCallback`` work. ``REINFORCE`` builds its policy with
``use_action_masks=True`` in ``_setup_model`` when its env has ``action_masks()`` (the policy's action head is
then sb3-contrib's, :func:`build_masked_head`); the masks are stored in the rollout buffer and applied again when
the log-likelihoods and entropies are recomputed for the update.
"""

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.maskable.distributions import MaskableDistribution, make_masked_proba_distribution
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import VecEnv

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


def build_masked_head(policy: ActorCriticPolicy, latent_dim: int) -> None:
    """
    Give ``policy`` sb3-contrib's maskable distribution and its action head in place of SB3's (MultiBinary: two
    logits per bit), initialised as SB3 initialises its own. Called at the end of the policy's ``_build``, which then
    builds its optimizer again over the new parameters.
    """
    policy.action_dist = make_masked_proba_distribution(policy.action_space)
    policy.action_net = policy.action_dist.proba_distribution_net(latent_dim=latent_dim)
    if policy.ortho_init:
        policy.action_net.apply(partial(policy.init_weights, gain=0.01))


def masked_distribution(policy: ActorCriticPolicy, latent_pi: th.Tensor, action_masks: Any) -> MaskableDistribution | None:
    """
    The action distribution of a maskable policy (one with :func:`build_masked_head`'s head), with
    ``action_masks`` applied when given: an array of shape ``(batch, mask_dim)`` of booleans, True for the valid
    actions. None for a policy built without masking, which refuses masks.
    """
    if not isinstance(policy.action_dist, MaskableDistribution):
        if action_masks is not None:
            raise ValueError(
                "action_masks were given to a policy built without masking: REINFORCE uses a maskable policy when the "
                "env it is created with has an action_masks() method"
            )
        return None
    distribution = policy.action_dist.proba_distribution(action_logits=policy.action_net(latent_pi))
    if action_masks is not None:
        distribution.apply_masking(action_masks)
    return distribution


def is_maskable(policy: th.nn.Module) -> bool:
    """Whether ``policy`` was built with action masking (its distribution takes masks)."""
    return isinstance(getattr(policy, "action_dist", None), MaskableDistribution)
