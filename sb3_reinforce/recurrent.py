"""RecurrentREINFORCE: REINFORCE with an LSTM policy, backpropagation through time over whole episodes."""

from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback
from stable_baselines3.common.utils import obs_as_tensor

from sb3_reinforce.buffers import EpisodicRolloutBuffer
from sb3_reinforce.policies import without_distribution_validation
from sb3_reinforce.recurrent_policies import (
    CnnLstmPolicy,
    MlpLstmPolicy,
    MultiInputLstmPolicy,
    RecurrentREINFORCEPolicy,
)
from sb3_reinforce.reinforce import REINFORCE
from sb3_reinforce.sampling import stored_and_env_actions
from sb3_reinforce.sequences import SEQUENCE_BUFFERS

SelfRecurrentREINFORCE = TypeVar("SelfRecurrentREINFORCE", bound="RecurrentREINFORCE")


class RecurrentREINFORCE(REINFORCE):
    """
    REINFORCE with a recurrent (LSTM) policy, for partially observed tasks (Williams, 1992; Wierstra et al., 2010).

    Paper: https://doi.org/10.1093/jigpal/jzp049

    The policy is sb3-contrib's LSTM policy (``RecurrentPPO``'s), its state reset at the start of every episode.
    REINFORCE collects whole episodes, so the update runs backpropagation through time over each episode from its
    first step to its last, never truncated: episodes are padded to the longest of their chunk, and chunks hold
    at most ``batch_size`` padded steps (one episode at least), which bounds the memory.

    Takes every argument of :class:`~sb3_reinforce.REINFORCE`, with these differences:

    :param policy: The policy model to use (MlpLstmPolicy, CnnLstmPolicy, MultiInputLstmPolicy); the LSTM's size
        and the critic's form go in ``policy_kwargs`` (``lstm_hidden_size``, ``n_lstm_layers``,
        ``enable_critic_lstm``, ``shared_lstm``), as for ``RecurrentPPO``
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param carry_episodes: Must be False or None: an episode carried into the next rollout would need its hidden
        states recomputed under the new parameters from its start
    :param bootstrap_truncated: Must be False: the value of a truncated episode's final observation needs the
        critic's state at that step
    :param kwargs: The other arguments of :class:`~sb3_reinforce.REINFORCE`; ``batch_size`` counts padded steps,
        and the separate value fit's ``vf_batch_size`` does too (its minibatches are whole episodes)
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpLstmPolicy": MlpLstmPolicy,
        "CnnLstmPolicy": CnnLstmPolicy,
        "MultiInputLstmPolicy": MultiInputLstmPolicy,
    }
    policy: RecurrentREINFORCEPolicy  # type: ignore[assignment]  # not a REINFORCEPolicy: an LSTM one
    _policy_base = RecurrentREINFORCEPolicy

    def __init__(
        self,
        policy: str | type[RecurrentREINFORCEPolicy],
        env: GymEnv | str,
        carry_episodes: bool | None = None,
        bootstrap_truncated: bool = False,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ):
        if carry_episodes:
            raise ValueError(
                "carry_episodes=True is not supported by RecurrentREINFORCE: a carried episode's hidden states would "
                "have to be recomputed under the new parameters from its start. Use carry_episodes=False."
            )
        if bootstrap_truncated:
            raise ValueError(
                "bootstrap_truncated=True is not supported by RecurrentREINFORCE: the value of the final observation "
                "needs the critic's hidden state at that step"
            )
        super().__init__(policy, env, carry_episodes=False, _init_setup_model=False, **kwargs)  # type: ignore[arg-type]  # an LSTM policy
        # the LSTM states after every env's last step (set up with the policy)
        self._last_lstm_states: RNNStates | None = None
        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        super()._setup_model()
        self._last_lstm_states = self.policy.initial_state(self.n_envs)

    def _rollout_buffer_choice(self) -> tuple[type[EpisodicRolloutBuffer], dict[str, Any]]:
        """REINFORCE's buffer, in the version that yields whole episodes (:mod:`sb3_reinforce.sequences`)."""
        buffer_class, kwargs = super()._rollout_buffer_choice()
        return SEQUENCE_BUFFERS[buffer_class], kwargs

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_last_lstm_states"]

    def _sample(
        self, obs: np.ndarray | dict[str, np.ndarray], action_masks: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, th.Tensor | None]:
        """The actions of every env at ``obs`` (``_last_obs``), the LSTM states reset where an episode starts."""
        assert self._last_lstm_states is not None
        episode_starts = th.as_tensor(self._last_episode_starts, dtype=th.float32, device=self.device)
        obs_tensor = obs_as_tensor(obs, self.device)
        with th.no_grad(), without_distribution_validation():
            actions, values, self._last_lstm_states = self.policy.sample_actions(
                obs_tensor, action_masks, self._last_lstm_states, episode_starts
            )
        return (*stored_and_env_actions(self.policy, actions), values)

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        The actions of the observations and the LSTM states to pass back with the next ones, as ``RecurrentPPO``'s
        ``predict``.

        :param observation: The observation(s)
        :param state: The states returned by the last call (None: zero states)
        :param episode_start: True where the observation is the first of an episode (its states are reset)
        :param deterministic: Whether to return the distribution's mode
        :param action_masks: The masks of the valid actions, for a model trained on an env that has them
        :return: the actions and the new states
        """
        return self.policy.predict(observation, state, episode_start, deterministic, action_masks=action_masks)

    def learn(
        self: SelfRecurrentREINFORCE,
        total_timesteps: int = 100_000,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "RecurrentREINFORCE",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfRecurrentREINFORCE:
        """:meth:`REINFORCE.learn <sb3_reinforce.REINFORCE.learn>`, logged under ``RecurrentREINFORCE``."""
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)
