"""
Recurrent policies for REINFORCE: sb3-contrib's ``RecurrentActorCriticPolicy`` (the LSTM policy of
``RecurrentPPO``) whose value network exists only when it is used, and which evaluates whole episodes as sequences.
"""

import warnings
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule

from sb3_reinforce.masking import build_masked_head, masked_distribution
from sb3_reinforce.policies import mlp_extractor, new_optimizer
from sb3_reinforce.sequences import SequenceSamples

LSTMStates = tuple[th.Tensor, ...]  # (hidden, cell), as sb3-contrib's RNNStates holds them


class RecurrentREINFORCEPolicy(RecurrentActorCriticPolicy):
    """
    Recurrent policy for REINFORCE: sb3-contrib's ``RecurrentActorCriticPolicy`` with an optional value network.

    The actor is features extractor, LSTM, MLP and action head, as in ``RecurrentPPO``. With ``use_value_net=False``
    (no learned baseline) there is no critic at all: no value head, no value layers, no critic LSTM. With
    ``use_value_net=True`` the critic is sb3-contrib's: its own LSTM by default (``enable_critic_lstm``), the
    actor's LSTM without gradient (``shared_lstm``), or a linear layer.

    The update evaluates whole episodes (:class:`~sb3_reinforce.sequences.SequenceSamples`), each from the zero
    state it started from while collecting, so backpropagation through time covers every episode from its first
    step.

    :param observation_space: Observation space
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule (could be constant)
    :param use_value_net: Whether to build the value network V(s) used as a learned baseline
    :param use_action_masks: Whether the action distribution takes masks of the valid actions (sb3-contrib's
        maskable distribution and its action head); ``RecurrentREINFORCE`` sets it when its env has ``action_masks()``
    :param kwargs: Every other argument of sb3-contrib's ``RecurrentActorCriticPolicy`` (``lstm_hidden_size``,
        ``n_lstm_layers``, ``shared_lstm``, ``enable_critic_lstm``, ``lstm_kwargs``, ``net_arch``, ...)
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
            ignored = [key for key in ("shared_lstm", "enable_critic_lstm") if kwargs.get(key)]
            if ignored or not kwargs.get("share_features_extractor", True):
                warnings.warn(
                    f"{', '.join(ignored) or 'share_features_extractor=False'} has no effect without a value network "
                    "(use_value_net=False): there is no critic to build.",
                    UserWarning,
                )
            kwargs.update(share_features_extractor=True, shared_lstm=False, enable_critic_lstm=False)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
        self.lstm_hidden_size = self.lstm_actor.hidden_size
        self.n_lstm_layers = self.lstm_actor.num_layers
        if not use_value_net:
            # drop the critic sb3-contrib always builds, and rebuild the optimizer without its parameters
            self.critic = None
            self.value_net = None  # type: ignore[assignment]  # sb3-contrib types it a module: here there is none
            self.optimizer = new_optimizer(self, self.parameters(), lr_schedule(1))

    def _build(self, lr_schedule: Schedule) -> None:
        # the LSTM is built from features_dim, which torch wants as a Python int (a flattened MultiDiscrete
        # observation gives a numpy one)
        self.features_dim = int(self.features_dim)
        super()._build(lr_schedule)
        if self.use_action_masks:
            build_masked_head(self, self.mlp_extractor.latent_dim_pi)
            self.optimizer = new_optimizer(self, self.parameters(), lr_schedule(1))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            use_value_net=self.use_value_net,
            use_action_masks=self.use_action_masks,
            share_features_extractor=self.share_features_extractor,
            lstm_hidden_size=self.lstm_hidden_size,
            n_lstm_layers=self.n_lstm_layers,
            shared_lstm=self.shared_lstm,
            enable_critic_lstm=self.enable_critic_lstm,
            lstm_kwargs=self.lstm_kwargs,
        )
        return data

    def _build_mlp_extractor(self) -> None:
        # after the LSTM: its output is the MLP's input
        self.mlp_extractor = mlp_extractor(
            self.lstm_output_dim, self.net_arch, self.activation_fn, self.device, self.use_value_net
        )

    def initial_state(self, n_envs: int) -> RNNStates:
        """The zero hidden and cell states of ``n_envs`` envs, each (n_lstm_layers, n_envs, lstm_hidden_size)."""
        zeros = th.zeros((self.n_lstm_layers, n_envs, self.lstm_hidden_size), device=self.device)
        return RNNStates((zeros, zeros.clone()), (zeros.clone(), zeros.clone()))

    def _distribution(self, latent_pi: th.Tensor, action_masks: Any = None) -> Distribution:
        """The action distribution of the actor's latent features (masks only for a maskable policy)."""
        return masked_distribution(self, latent_pi, action_masks) or self._get_action_dist_from_latent(latent_pi)

    def _features(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        """The actor's and the critic's features (the same tensor when the extractor is shared)."""
        features = self.extract_features(obs)
        return (features, features) if self.share_features_extractor else features  # type: ignore[return-value]  # a pair when not shared

    def _run_lstm(
        self, features: th.Tensor, states: LSTMStates, episode_starts: th.Tensor, lstm: th.nn.LSTM
    ) -> tuple[th.Tensor, LSTMStates]:
        """
        sb3-contrib's ``_process_sequence``: the LSTM's output and its new (hidden, cell) states. Its annotations
        (sb3-contrib 2.9) say it takes and returns a pair of tensors; it returns the output and the pair.
        """
        return self._process_sequence(features, states, episode_starts, lstm)  # type: ignore[arg-type,return-value]

    def _critic_latent(
        self,
        vf_features: th.Tensor,
        vf_states: LSTMStates,
        episode_starts: th.Tensor,
        latent_pi: th.Tensor | None,
        pi_states: LSTMStates,
    ) -> tuple[th.Tensor, LSTMStates]:
        """
        The critic's LSTM output and states: its own LSTM, the actor's without gradient (``latent_pi``, its output,
        needed only then), or a linear layer.
        """
        if self.lstm_critic is not None:
            return self._run_lstm(vf_features, vf_states, episode_starts, self.lstm_critic)
        if self.shared_lstm:
            assert latent_pi is not None
            return latent_pi.detach(), (pi_states[0].detach(), pi_states[1].detach())
        assert self.critic is not None
        return self.critic(vf_features), pi_states

    def _latents(
        self,
        pi_features: th.Tensor,
        vf_features: th.Tensor,
        lstm_states: RNNStates,
        episode_starts: th.Tensor,
        with_values: bool,
    ) -> tuple[th.Tensor, th.Tensor | None, RNNStates]:
        """The actor's and (``with_values``) the critic's LSTM outputs, and the new states."""
        latent_pi, pi_states = self._run_lstm(pi_features, lstm_states.pi, episode_starts, self.lstm_actor)
        if not with_values:
            return latent_pi, None, RNNStates(pi_states, pi_states)
        latent_vf, vf_states = self._critic_latent(vf_features, lstm_states.vf, episode_starts, latent_pi, pi_states)
        return latent_pi, latent_vf, RNNStates(pi_states, vf_states)

    def _step(
        self, obs: PyTorchObs, lstm_states: RNNStates, episode_starts: th.Tensor, action_masks: Any = None
    ) -> tuple[Distribution, th.Tensor | None, RNNStates]:
        """One step of every env: the action distribution, V(s) (None without a value network) and the new states."""
        pi_features, vf_features = self._features(obs)
        latent_pi, latent_vf, states = self._latents(pi_features, vf_features, lstm_states, episode_starts, self.use_value_net)
        values = None if latent_vf is None else self.value_net(self.mlp_extractor.forward_critic(latent_vf))
        return self._distribution(self.mlp_extractor.forward_actor(latent_pi), action_masks), values, states

    def sample_actions(
        self, obs: PyTorchObs, action_masks: Any, lstm_states: RNNStates, episode_starts: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor | None, RNNStates]:
        """
        What a rollout needs from the policy at each step.

        :param obs: Observation of every env, (n_envs, ...)
        :param action_masks: Masks of the valid actions (a maskable policy only), or None
        :param lstm_states: The states after every env's last step
        :param episode_starts: (n_envs,), 1.0 where the observation starts an episode (the states are reset)
        :return: the sampled actions, V(s) (None without a value network) and the new states
        """
        distribution, values, states = self._step(obs, lstm_states, episode_starts, action_masks)
        return distribution.get_actions().reshape((-1, *(self.action_space.shape or ()))), values, states

    def forward(  # type: ignore[override]  # sb3-contrib's signature; values None without a value network
        self, obs: th.Tensor, lstm_states: RNNStates, episode_starts: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, th.Tensor | None, th.Tensor, RNNStates]:
        """sb3-contrib's ``forward``: actions, values (None without a value network), log-probabilities, states."""
        distribution, values, states = self._step(obs, lstm_states, episode_starts)
        actions = distribution.get_actions(deterministic=deterministic)
        return actions.reshape((-1, *(self.action_space.shape or ()))), values, distribution.log_prob(actions), states

    def _sequence_states(self, samples: SequenceSamples) -> tuple[RNNStates, th.Tensor]:
        """
        The zero states every episode of the chunk starts from, and no reset inside an episode: sb3-contrib then
        runs the LSTM over the whole padded chunk in one call.
        """
        return self.initial_state(samples.n_seq), th.zeros(len(samples.padding_mask), device=self.device)

    def evaluate_samples(
        self, samples: SequenceSamples, actions: th.Tensor, with_values: bool = False
    ) -> tuple[th.Tensor | None, th.Tensor, th.Tensor | None]:
        """
        The update's evaluation of a chunk of whole episodes.

        :param samples: The chunk
        :param actions: Its actions (the episodes' own steps), as the distribution takes them
        :param with_values: Whether V(s) is needed (a value network fitted in the policy's step)
        :return: V(s) (None without ``with_values``), the log-likelihood of the actions and the entropy, at the
            episodes' own steps
        """
        if with_values:
            pi_features, vf_features = self._features(samples.observations)
        else:
            pi_features = vf_features = BaseModel.extract_features(self, samples.observations, self.pi_features_extractor)
        latent_pi, latent_vf, _ = self._latents(pi_features, vf_features, *self._sequence_states(samples), with_values)
        own_steps = samples.padding_mask
        distribution = self._distribution(self.mlp_extractor.forward_actor(latent_pi[own_steps]), samples.action_masks)
        values = None if latent_vf is None else self.value_net(self.mlp_extractor.forward_critic(latent_vf[own_steps]))
        return values, distribution.log_prob(actions), distribution.entropy()

    def values_for_fit(self, samples: SequenceSamples) -> th.Tensor:
        """
        V(s) of a chunk of whole episodes, shape (batch,), with gradients only into :meth:`value_parameters`.

        :param samples: The chunk
        """
        if not self.use_value_net:
            raise RuntimeError("This policy has no value network: it was built with use_value_net=False.")
        with th.set_grad_enabled(th.is_grad_enabled() and not self.share_features_extractor):
            features = BaseModel.extract_features(self, samples.observations, self.vf_features_extractor)
        states, episode_starts = self._sequence_states(samples)
        latent_pi = None
        if self.shared_lstm:
            with th.no_grad():  # the actor's LSTM is not V's to train
                latent_pi, _ = self._run_lstm(features, states.pi, episode_starts, self.lstm_actor)
        latent_vf, _ = self._critic_latent(features, states.vf, episode_starts, latent_pi, states.pi)
        return self.value_net(self.mlp_extractor.forward_critic(latent_vf[samples.padding_mask])).flatten()

    def value_parameters(self) -> list[th.nn.Parameter]:
        """The parameters only V(s) uses: its LSTM or linear layer, its MLP branch and head, its own extractor."""
        if not self.use_value_net:
            raise RuntimeError("This policy has no value network: it was built with use_value_net=False.")
        modules: list[th.nn.Module | None] = [self.lstm_critic, self.critic, self.mlp_extractor.value_net, self.value_net]
        if not self.share_features_extractor:
            modules.append(self.vf_features_extractor)
        return [param for module in modules if module is not None for param in module.parameters()]

    def get_distribution(  # type: ignore[override]  # sb3-contrib's signature, with the masks
        self, obs: th.Tensor, lstm_states: LSTMStates, episode_starts: th.Tensor, action_masks: Any = None
    ) -> tuple[Distribution, LSTMStates]:
        """sb3-contrib's ``get_distribution``, with the masks of the valid actions (a maskable policy only)."""
        features = BaseModel.extract_features(self, obs, self.pi_features_extractor)
        latent_pi, lstm_states = self._run_lstm(features, lstm_states, episode_starts, self.lstm_actor)
        return self._distribution(self.mlp_extractor.forward_actor(latent_pi), action_masks), lstm_states

    def evaluate_actions(  # type: ignore[override]  # values None without a value network
        self, obs: th.Tensor, actions: th.Tensor, lstm_states: RNNStates, episode_starts: th.Tensor
    ) -> tuple[th.Tensor | None, th.Tensor, th.Tensor | None]:
        """sb3-contrib's ``evaluate_actions``; the values are None without a value network."""
        if self.use_value_net:
            return super().evaluate_actions(obs, actions, lstm_states, episode_starts)
        distribution, _ = self.get_distribution(obs, lstm_states.pi, episode_starts)
        return None, distribution.log_prob(actions), distribution.entropy()

    def predict_values(self, obs: th.Tensor, lstm_states: LSTMStates, episode_starts: th.Tensor) -> th.Tensor:  # type: ignore[override]  # sb3-contrib's
        if not self.use_value_net:
            raise RuntimeError("This policy has no value network: it was built with use_value_net=False.")
        return super().predict_values(obs, lstm_states, episode_starts)  # type: ignore[arg-type]  # sb3-contrib 2.9 types the pair as tuple[Tensor, Tensor]

    def _predict(  # type: ignore[override]  # sb3-contrib's signature
        self, observation: th.Tensor, lstm_states: LSTMStates, episode_starts: th.Tensor, deterministic: bool = False
    ) -> tuple[th.Tensor, LSTMStates]:
        distribution, lstm_states = self.get_distribution(observation, lstm_states, episode_starts, self._predict_masks)
        return distribution.get_actions(deterministic=deterministic), lstm_states

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        sb3-contrib's recurrent ``predict``: the actions and the LSTM states to pass back with the next
        observation; ``episode_start`` (True where an episode begins) resets them.

        :param observation: The observation(s)
        :param state: The states returned by the last call (None: zero states)
        :param episode_start: (n_envs,), True where the observation is the first of an episode
        :param deterministic: Whether to return the distribution's mode
        :param action_masks: The masks of the valid actions (a maskable policy only)
        :return: the actions and the new states
        """
        # read by _predict, below sb3-contrib's predict (a plain policy refuses them there)
        self._predict_masks = action_masks
        try:
            return super().predict(observation, state, episode_start, deterministic)
        finally:
            self._predict_masks = None

    _predict_masks: np.ndarray | None = None


class RecurrentREINFORCECnnPolicy(RecurrentREINFORCEPolicy):
    """:class:`RecurrentREINFORCEPolicy` with SB3's ``NatureCNN`` features extractor for image observations."""

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


class RecurrentREINFORCEMultiInputPolicy(RecurrentREINFORCEPolicy):
    """:class:`RecurrentREINFORCEPolicy` with SB3's ``CombinedExtractor`` for ``Dict`` observations."""

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


MlpLstmPolicy = RecurrentREINFORCEPolicy
CnnLstmPolicy = RecurrentREINFORCECnnPolicy
MultiInputLstmPolicy = RecurrentREINFORCEMultiInputPolicy
