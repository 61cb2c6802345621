"""
The baselines of REINFORCE: what is subtracted from the returns, and how it is fitted.

``REINFORCE`` picks one of these objects in ``_setup_model`` (:func:`make_baseline`); the buffer asks it for the
advantages, and ``train`` asks it how to evaluate the actions, for its share of the loss and for its own fit
after the policy's step.
"""

from typing import ClassVar

import numpy as np
import torch as th
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.utils import update_learning_rate

from sb3_reinforce.policies import REINFORCEPolicy, new_optimizer
from sb3_reinforce.returns import group_leave_one_out_baseline, group_std, leave_one_out_baseline
from sb3_reinforce.type_aliases import EpisodicRolloutBufferSamples, RolloutBatches

BASELINES = ("none", "value", "leave_one_out")
VALUE_FITS = ("separate", "joint")

# Defaults of the separate value fit, tuned on CartPole-v1
DEFAULT_VF_LEARNING_RATE = 1e-2
DEFAULT_VF_N_EPOCHS = 5
DEFAULT_VF_BATCH_SIZE = 256


class Baseline:
    """No baseline: every step is weighted by its return, ``A_t = G_t``."""

    #: Whether the policy needs a value network V(s)
    uses_value_net: ClassVar[bool] = False

    def setup(self, policy: REINFORCEPolicy, episodes_per_update: int, vf_learning_rate: float) -> None:
        """
        Check the model's settings and build what the baseline needs (called by ``_setup_model``).

        :param policy: The model's policy
        :param episodes_per_update: Whole episodes in each update
        :param vf_learning_rate: The value fit's learning rate now (a value baseline fitted on its own)
        """

    def advantages(
        self,
        returns: np.ndarray,
        episode_ends: np.ndarray,
        used: np.ndarray,
        values: np.ndarray,
        groups: np.ndarray | None = None,
    ) -> np.ndarray:
        """
        :param returns: (n_steps, n_envs), the returns of every step (float64)
        :param episode_ends: (n_steps, n_envs)
        :param used: (n_steps, n_envs), the steps of the batch's episodes
        :param values: (n_steps, n_envs), V(s_t) as stored while collecting (0 without a value network)
        :param groups: (n_steps, n_envs), the group of every step of a grouped rollout, or None
        :return: (n_steps, n_envs), the advantages ``A_t`` (meaningful on the used steps)
        """
        return returns.copy()

    def evaluate(
        self, policy: REINFORCEPolicy, samples: EpisodicRolloutBufferSamples, actions: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor | None, th.Tensor | None]:
        """
        :param policy: The policy
        :param samples: A chunk of the batch (its observations, and the masks its actions were sampled under)
        :param actions: The chunk's actions, as the policy's distribution takes them
        :return: the log-likelihood of the actions, the entropy of the action distribution (None without a closed
            form) and V(s) when the policy's loss fits it (None otherwise)
        """
        _, log_prob, entropy = policy.evaluate_samples(samples, actions, with_values=False)
        return log_prob, entropy, None

    def value_loss(self, values: th.Tensor | None, samples: EpisodicRolloutBufferSamples) -> th.Tensor:
        """The value loss that joins the policy's loss (weighted by ``vf_coef``): 0 unless V is fitted jointly."""
        return th.zeros((), device=samples.returns.device)

    def fit(self, policy: REINFORCEPolicy, batches: RolloutBatches, vf_learning_rate: float, logger: Logger) -> None:
        """
        Fit the baseline to the batch after the policy's step (the advantages of the batch are computed).

        :param policy: The model's policy
        :param batches: The rollout buffer holding the batch
        :param vf_learning_rate: The value fit's learning rate for this update
        :param logger: The model's logger
        """

    def record(self, logger: Logger, joint_value_loss: float, buffer: RolloutBatches) -> None:
        """Log the baseline's own statistics of the update."""


class LeaveOneOutBaseline(Baseline):
    """
    Each episode's baseline at step ``t`` is the mean return of the batch's other episodes at their step ``t``
    (:func:`~sb3_reinforce.returns.leave_one_out_baseline`): unbiased, and no network to fit.
    """

    def setup(self, policy: REINFORCEPolicy, episodes_per_update: int, vf_learning_rate: float) -> None:
        if episodes_per_update < 2:
            raise ValueError(f"baseline='leave_one_out' needs at least 2 episodes per update, got {episodes_per_update}")

    def advantages(
        self,
        returns: np.ndarray,
        episode_ends: np.ndarray,
        used: np.ndarray,
        values: np.ndarray,
        groups: np.ndarray | None = None,
    ) -> np.ndarray:
        return returns - leave_one_out_baseline(returns, episode_ends, used)


class GroupLeaveOneOutBaseline(Baseline):
    """
    Leave-one-out within each group of episodes that share a start state (RLOO): step ``t`` of an episode is
    judged against the mean return at step ``t`` of the other episodes of its group. With ``scale_by_std`` the
    advantage is also divided by the group's standard deviation of those returns (GRPO's scaling), which weights
    the groups by how hard they are rather than equally.

    :param scale_by_std: Divide each group's advantages by the group's standard deviation (plus ``eps``)
    :param eps: Added to the standard deviation
    """

    def __init__(self, scale_by_std: bool = False, eps: float = 1e-8) -> None:
        self.scale_by_std = scale_by_std
        self.eps = eps

    def advantages(
        self,
        returns: np.ndarray,
        episode_ends: np.ndarray,
        used: np.ndarray,
        values: np.ndarray,
        groups: np.ndarray | None = None,
    ) -> np.ndarray:
        if groups is None:
            raise ValueError("The group leave-one-out baseline needs a grouped rollout (group_size > 1)")
        advantages = returns - group_leave_one_out_baseline(returns, episode_ends, used, groups)
        if self.scale_by_std:
            advantages = advantages / (group_std(returns, episode_ends, used, groups) + self.eps)
        return advantages


class ValueBaseline(Baseline):
    """
    A learned value network, ``A_t = G_t - V(s_t)``, fitted to the Monte Carlo returns after the policy's step
    with an optimizer of its own: ``n_epochs`` passes over the batch in shuffled minibatches of ``batch_size``
    steps. The advantages of a batch come from V fitted on earlier batches only.

    :param n_epochs: Passes over the batch per fit
    :param batch_size: Minibatch size (steps) of the fit
    """

    uses_value_net = True

    def __init__(self, n_epochs: int = DEFAULT_VF_N_EPOCHS, batch_size: int = DEFAULT_VF_BATCH_SIZE) -> None:
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.optimizer: th.optim.Optimizer | None = None
        self.last_fit_loss = float("nan")

    def setup(self, policy: REINFORCEPolicy, episodes_per_update: int, vf_learning_rate: float) -> None:
        self.optimizer = new_optimizer(policy, policy.value_parameters(), vf_learning_rate)

    def advantages(
        self,
        returns: np.ndarray,
        episode_ends: np.ndarray,
        used: np.ndarray,
        values: np.ndarray,
        groups: np.ndarray | None = None,
    ) -> np.ndarray:
        return returns - values

    def fit(self, policy: REINFORCEPolicy, batches: RolloutBatches, vf_learning_rate: float, logger: Logger) -> None:
        """
        Regress V(s) on the batch's returns: ``n_epochs`` passes over the used steps in shuffled minibatches of
        ``batch_size``, one unclipped step of the value optimizer each. Only V's own layers are trained.
        """
        assert self.optimizer is not None
        update_learning_rate(self.optimizer, vf_learning_rate)
        logger.record("train/vf_learning_rate", vf_learning_rate)
        losses = []
        for _ in range(self.n_epochs):
            for rollout_data in batches.get(self.batch_size, shuffle=True):
                values = policy.values_for_fit(rollout_data)
                value_loss = (rollout_data.weights * (rollout_data.returns - values) ** 2).mean()
                if not th.isfinite(value_loss):
                    self.optimizer.zero_grad()
                    raise ValueError(
                        f"The value loss is not finite ({value_loss.item()}): the value network was left as it was "
                        "before this minibatch. Check the observations, rewards and vf_learning_rate."
                    )
                self.optimizer.zero_grad()
                value_loss.backward()
                self.optimizer.step()
                losses.append(value_loss.item())
        self.last_fit_loss = float(np.mean(losses)) if losses else 0.0

    def record(self, logger: Logger, joint_value_loss: float, buffer: RolloutBatches) -> None:
        logger.record("train/value_loss", self.last_fit_loss)
        logger.record("train/explained_variance", buffer.explained_variance)


class JointValueBaseline(ValueBaseline):
    """
    A learned value network fitted in the policy's own step (A2C's way): ``vf_coef`` times the squared error to
    the returns joins the loss, with the same optimizer and gradient clipping.
    """

    def setup(self, policy: REINFORCEPolicy, episodes_per_update: int, vf_learning_rate: float) -> None:
        self.optimizer = None

    def evaluate(
        self, policy: REINFORCEPolicy, samples: EpisodicRolloutBufferSamples, actions: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor | None, th.Tensor | None]:
        values, log_prob, entropy = policy.evaluate_samples(samples, actions, with_values=True)
        return log_prob, entropy, values

    def value_loss(self, values: th.Tensor | None, samples: EpisodicRolloutBufferSamples) -> th.Tensor:
        assert values is not None
        return (samples.weights * (samples.returns - values.flatten()) ** 2).mean()

    def fit(self, policy: REINFORCEPolicy, batches: RolloutBatches, vf_learning_rate: float, logger: Logger) -> None:
        pass

    def record(self, logger: Logger, joint_value_loss: float, buffer: RolloutBatches) -> None:
        logger.record("train/value_loss", joint_value_loss)
        logger.record("train/explained_variance", buffer.explained_variance)


def make_baseline(
    baseline: str,
    value_fit: str,
    group_size: int = 1,
    group_std_scaling: bool = False,
    vf_n_epochs: int = DEFAULT_VF_N_EPOCHS,
    vf_batch_size: int = DEFAULT_VF_BATCH_SIZE,
) -> Baseline:
    """
    :param baseline: One of :data:`BASELINES`
    :param value_fit: One of :data:`VALUE_FITS` (value baseline only)
    :param group_size: Episodes per group of a grouped rollout (1: not grouped); leave-one-out is then taken
        within each group
    :param group_std_scaling: With leave-one-out in groups, divide by the group's standard deviation (GRPO)
    :param vf_n_epochs: Passes over the batch per value fit (a value baseline fitted on its own)
    :param vf_batch_size: Minibatch size of the value fit (a value baseline fitted on its own)
    :return: The baseline object ``REINFORCE`` uses
    """
    if baseline == "value":
        return JointValueBaseline() if value_fit == "joint" else ValueBaseline(vf_n_epochs, vf_batch_size)
    if baseline == "leave_one_out":
        return GroupLeaveOneOutBaseline(group_std_scaling) if group_size > 1 else LeaveOneOutBaseline()
    return Baseline()
