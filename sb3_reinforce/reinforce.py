"""REINFORCE: Monte Carlo policy gradient as a Stable-Baselines3 ``OnPolicyAlgorithm``."""

import functools
import math
import warnings
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import obs_as_tensor, update_learning_rate
from stable_baselines3.common.vec_env import VecEnv

from sb3_reinforce.attention import AttentionPolicy
from sb3_reinforce.baselines import (
    DEFAULT_VF_BATCH_SIZE,
    DEFAULT_VF_LEARNING_RATE,
    DEFAULT_VF_N_EPOCHS,
    Baseline,
    make_baseline,
)
from sb3_reinforce.buffers import EpisodicRolloutBuffer
from sb3_reinforce.callbacks import with_episodic_progress_bar
from sb3_reinforce.carrying import CarryingEpisodicRolloutBuffer
from sb3_reinforce.checks import (
    CHECKED_ARGUMENTS,
    DEFAULT_EPISODE_LENGTH_LIMIT,
    check_arguments,
    episode_length_error,
    observation_error,
)
from sb3_reinforce.groups import (
    GroupedEpisodicRolloutBuffer,
    reset_all_envs,
)
from sb3_reinforce.masking import mask_dim, mask_source, no_masks
from sb3_reinforce.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, REINFORCEPolicy
from sb3_reinforce.sampling import (
    bootstrap_truncated_rewards,
    expected_rollout_steps,
    log_prob_of,
    stored_and_env_actions,
)
from sb3_reinforce.schedules import DEFAULT_LEARNING_RATE, StepsLinearSchedule, schedule_value

SelfREINFORCE = TypeVar("SelfREINFORCE", bound="REINFORCE")

# Steps per env the rollout buffer holds before it first grows; it doubles when full and keeps its size.
INITIAL_BUFFER_CAPACITY = 256


class REINFORCE(OnPolicyAlgorithm):
    """
    REINFORCE: Monte Carlo policy gradient, with optional baseline (Williams, 1992).

    Paper: https://doi.org/10.1007/BF00992696

    Every update uses whole episodes, each step's log-likelihood gradient weighted by its Monte Carlo return minus
    a baseline, in one optimizer step per rollout. ``n_steps`` is each env's steps in the last rollout, as SB3 code
    reads it, not a hyperparameter. The docs explain rollouts, carrying, groups, masking and the baselines in full.

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: The learning rate, it can be a function of the current progress remaining (from 1 to 0),
        evaluated at the start of each rollout, or a :class:`StepsLinearSchedule` of the model's env steps. The
        default decays from 5e-3 to 1e-4 over the first 100,000 env steps of the model (not of each ``learn()``
        call), then stays at 1e-4.
    :param n_episodes: Minimum number of whole episodes per update; rounded up to a multiple of the number of envs
        (each env plays ``ceil(n_episodes / n_envs)`` episodes)
    :param gamma: Discount factor, in [0, 1]. The default 0.999 keeps a horizon of about 1,000 steps: with 0.99
        the objective barely distinguishes an episode that fails at step 300 from one that lasts 500
    :param reward_to_go: Weight each step by its return-to-go ``G_t`` (True) or by the return of the whole
        episode ``R(tau)`` (False: the estimator before the causality argument, for comparison)
    :param use_baseline: True: a learned value network V(s) as the baseline (``baseline="value"``); False: no
        baseline (``baseline="none"``); None (default): see ``baseline``
    :param baseline: ``"none"``, ``"value"`` (a learned value network) or ``"leave_one_out"`` (each episode's
        baseline at step ``t`` is the mean return of the batch's other episodes at their step ``t``, or of its
        group's with ``group_size > 1``; unbiased, no network). None (default): from ``use_baseline`` when given,
        else ``"leave_one_out"`` when ``n_episodes >= 2`` and ``"none"`` otherwise
    :param bootstrap_truncated: With a learned baseline only: at a time-limit truncation, add ``gamma * V(s_T)``
        of the final observation to the last reward, treating the time limit as not part of the task
    :param normalize_advantage: Standardise the advantages over the batch (mean 0, std 1; a batch of one step is
        left as is)
    :param ent_coef: Entropy coefficient for the loss calculation
    :param vf_coef: Value function coefficient for the loss calculation (``value_fit="joint"`` only)
    :param value_fit: How the value baseline (``baseline="value"``) is fitted to the Monte Carlo returns.
        ``"separate"`` (default): after the policy's step, by its own optimizer (learning rate
        ``vf_learning_rate``), ``vf_n_epochs`` passes in shuffled minibatches of ``vf_batch_size`` steps, V's own
        layers only; a batch's advantages use V fitted on earlier batches. ``"joint"``: ``vf_coef`` times the value
        loss joins the policy's loss, one optimizer and one clipping (A2C's way)
    :param vf_learning_rate: Learning rate of the value fit (``value_fit="separate"``): a number, a function of
        the progress remaining, or a :class:`StepsLinearSchedule`
    :param vf_n_epochs: Passes over the batch per value fit (``value_fit="separate"``)
    :param vf_batch_size: Minibatch size (steps) of the value fit (``value_fit="separate"``)
    :param max_grad_norm: The maximum value for the gradient clipping (``math.inf`` disables clipping)
    :param batch_size: Number of steps per gradient-accumulation chunk, or None to process the whole batch at once
    :param carry_episodes: Keep the steps an env takes after its used episodes (while waiting for the slowest env)
        for the next rollout (up to one rollout's worth of whole episodes per env), each episode partly played
        under earlier parameters weighted by its likelihood ratio; False drops them. None (default): True, except
        with ``group_size > 1``, where episodes cannot be carried
    :param group_size: Number of episodes that start from the same reset seed and form a group (1: no groups). The
        update's episodes form ``n_episodes / group_size`` groups, whose seeds come from the model's seeded
        generator; with ``baseline="leave_one_out"`` (the default) each episode's baseline is the mean return of
        the other episodes of its group (RLOO). Needs an env whose reset depends only on its seed
        (:func:`~sb3_reinforce.groups.reset_is_reproducible`) and ``n_episodes`` a multiple of ``group_size``;
        an update then uses exactly ``n_episodes`` episodes, played in waves of seeded resets of every env
    :param group_std_scaling: With groups and the leave-one-out baseline, also divide each group's advantages by the
        standard deviation of its returns (GRPO's scaling, which weights the groups by difficulty)
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE) instead of action noise
        (``Box`` actions only; ``log_std_init``, ``full_std``, ``use_expln`` and ``squash_output`` go in
        ``policy_kwargs``; a squashed action is rescaled to the bounds, an unsquashed one clipped to them)
    :param sde_sample_freq: Sample a new noise matrix every n steps of a rollout when using gSDE; -1: once per
        rollout. Only 1 keeps the policy gradient unbiased (a matrix shared by several steps correlates their noises)
    :param episode_length_limit: Longest episode (in steps) a rollout waits for; a longer one raises a
        ``RuntimeError`` naming the env
    :param stats_window_size: Window size for the rollout logging, specifying the number of episodes to average
        the reported success rate, mean episode length, and mean reward over
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation
    :param verbose: Verbosity level: 0 for no output, 1 for info messages (such as device or wrappers used), 2 for
        debug messages
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run.
        Setting it to auto, the code will be run on the GPU if possible.
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
        "AttentionPolicy": AttentionPolicy,
    }
    policy: REINFORCEPolicy
    rollout_buffer: EpisodicRolloutBuffer  # type: ignore[assignment]  # not an SB3 RolloutBuffer
    #: The class every policy of the algorithm derives from
    _policy_base: ClassVar[type[BasePolicy]] = REINFORCEPolicy

    def __init__(
        self,
        policy: str | type[REINFORCEPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = DEFAULT_LEARNING_RATE,
        n_episodes: int = 8,
        gamma: float = 0.999,
        reward_to_go: bool = True,
        use_baseline: bool | None = None,
        baseline: str | None = None,
        bootstrap_truncated: bool = False,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        value_fit: str | None = None,
        vf_learning_rate: float | Schedule = DEFAULT_VF_LEARNING_RATE,
        vf_n_epochs: int = DEFAULT_VF_N_EPOCHS,
        vf_batch_size: int = DEFAULT_VF_BATCH_SIZE,
        max_grad_norm: float = 0.5,
        batch_size: int | None = 4096,
        episode_length_limit: int = DEFAULT_EPISODE_LENGTH_LIMIT,
        carry_episodes: bool | None = None,
        group_size: int = 1,
        group_std_scaling: bool = False,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
        **kwargs: Any,
    ):
        # every argument is checked before anything is built; check_arguments names the ones it reads
        given = locals()
        baseline = check_arguments(kwargs, **{name: given[name] for name in CHECKED_ARGUMENTS})
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=INITIAL_BUFFER_CAPACITY,  # replaced in _setup_model: rollouts last until their episodes end
            gamma=gamma,
            gae_lambda=1.0,  # Monte Carlo returns, no bootstrapping
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            device=device,
            seed=seed,
            _init_setup_model=False,
            supported_action_spaces=(
                spaces.Box,
                spaces.Discrete,
                spaces.MultiDiscrete,
                spaces.MultiBinary,
            ),
        )

        self.n_episodes = n_episodes
        self.reward_to_go = reward_to_go
        self.baseline = baseline
        self.use_baseline = baseline == "value"
        self.value_fit = value_fit or "separate"
        self.vf_learning_rate = vf_learning_rate
        self.vf_n_epochs = vf_n_epochs
        self.vf_batch_size = vf_batch_size
        self.bootstrap_truncated = bootstrap_truncated
        self.normalize_advantage = normalize_advantage
        self.batch_size = batch_size
        self.episode_length_limit = episode_length_limit
        # carrying keeps episodes that started anywhere: a grouped rollout starts every episode from a seeded reset
        self.carry_episodes = group_size == 1 if carry_episodes is None else carry_episodes
        self.group_size = group_size
        self.group_std_scaling = group_std_scaling
        # num_timesteps when the last rollout started: the learning rate schedule's progress is taken there
        self._rollout_start_timesteps = 0

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        if self.policy_class is not None and not issubclass(self.policy_class, self._policy_base):
            raise ValueError(
                f"{type(self).__name__} needs a {self._policy_base.__name__} "
                f"({', '.join(self.policy_aliases)}), got {self.policy_class}"
            )
        # the variants of the algorithm, chosen once: the buffer (grouped, carrying episodes or not) and the baseline
        self.rollout_buffer_class, self.rollout_buffer_kwargs = self._rollout_buffer_choice()  # type: ignore[assignment]  # as above
        self._baseline: Baseline = make_baseline(
            self.baseline, self.value_fit, self.group_size, self.group_std_scaling, self.vf_n_epochs, self.vf_batch_size
        )
        # invalid-action masking when the env has action_masks() (sb3-contrib's protocol): a maskable policy, and
        # the masks stored beside the actions. A model trained with masks keeps a maskable policy when it is loaded
        # without an env (use_action_masks is saved with the model)
        self._action_masks = mask_source(self.env)
        self.use_action_masks = self._action_masks is not no_masks or getattr(self, "use_action_masks", False)
        if self._action_masks is not no_masks:
            self.rollout_buffer_kwargs = {**self.rollout_buffer_kwargs, "mask_dim": mask_dim(self.action_space)}

        # the policy gets use_value_net from the baseline and use_action_masks from the env; the stored policy_kwargs
        # stay the user's, so that load(..., policy_kwargs=<the same kwargs>) matches them
        user_policy_kwargs = dict(self.policy_kwargs)
        self.policy_kwargs = {
            **user_policy_kwargs,
            "use_value_net": self._baseline.uses_value_net,
            "use_action_masks": self.use_action_masks,
        }
        # SB3 sizes the buffer from n_steps: the initial capacity, which doubles whenever a rollout needs more
        self.n_steps = INITIAL_BUFFER_CAPACITY
        try:
            super()._setup_model()
        finally:
            self.policy_kwargs = user_policy_kwargs
        self.n_steps = expected_rollout_steps(self.env, self.episodes_per_env, default=INITIAL_BUFFER_CAPACITY)
        self._baseline.setup(self.policy, self.episodes_per_env * self.n_envs, self._schedule_value(self.vf_learning_rate))

    def _get_policy_from_name(self, policy_name: str) -> type[BasePolicy]:
        if policy_name not in self.policy_aliases:
            raise ValueError(
                f"Policy {policy_name} unknown to {type(self).__name__}: choose among {', '.join(self.policy_aliases)} "
                "(MlpPolicy, CnnPolicy and MultiInputPolicy are REINFORCE's, their Lstm versions RecurrentREINFORCE's)"
            )
        return self.policy_aliases[policy_name]

    def _rollout_buffer_choice(self) -> tuple[type[EpisodicRolloutBuffer], dict[str, Any]]:
        """The rollout buffer's class and its keyword arguments: grouped, carrying episodes or not."""
        if self.group_size > 1:
            # exactly n_episodes episodes, in waves of seeded resets (the last wave may be partial)
            kwargs = dict(group_size=self.group_size, episodes_per_rollout=self.n_episodes, seed=self.seed)
            return GroupedEpisodicRolloutBuffer, kwargs
        if self.n_episodes % self.n_envs != 0:
            warnings.warn(
                f"n_episodes={self.n_episodes} is not a multiple of n_envs={self.n_envs}: every env plays the same "
                f"number of episodes, so each update uses {self.episodes_per_env * self.n_envs} episodes.",
                UserWarning,
            )
        if self.carry_episodes:
            return CarryingEpisodicRolloutBuffer, {}
        return EpisodicRolloutBuffer, {}

    @property
    def vf_optimizer(self) -> th.optim.Optimizer | None:
        """The optimizer of the value network when it is fitted on its own (``value_fit="separate"``), else None."""
        return getattr(self._baseline, "optimizer", None)

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        if self.vf_optimizer is not None:
            state_dicts = [*state_dicts, "vf_optimizer"]
        return state_dicts, variables

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_baseline", "_action_masks"]

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """SB3's ``predict``, with ``action_masks`` (the valid actions) for a model trained on an env that has them."""
        return self.policy.predict(observation, state, episode_start, deterministic, action_masks=action_masks)

    def _schedule_value(self, schedule: float | Schedule) -> float:
        """A learning rate for the rollout just collected (see :func:`~sb3_reinforce.schedules.schedule_value`)."""
        return schedule_value(schedule, self._rollout_start_timesteps, self._current_progress_remaining)

    @property
    def episodes_per_env(self) -> int:
        """Number of whole episodes each env plays per rollout."""
        return math.ceil(self.n_episodes / self.n_envs)

    def collect_rollouts(  # type: ignore[override]  # the episodic buffer
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: EpisodicRolloutBuffer,
        n_rollout_steps: int = 0,
    ) -> bool:
        """
        Play ``episodes_per_env`` whole episodes in every env with the current policy and fill the buffer.

        :param env: The training environment
        :param callback: Callback that will be called at each step (and at the beginning and end of the rollout)
        :param rollout_buffer: Buffer to fill with rollouts
        :param n_rollout_steps: Unused: a rollout lasts until every env has finished its episodes
        :return: True if the rollout is complete, False if a callback stopped training during it
        """
        assert self._last_obs is not None, "No previous observation was provided"
        # Switch to eval mode (this affects batch norm / dropout)
        self.policy.set_training_mode(False)
        self._rollout_start_timesteps = self.num_timesteps
        episodes_per_env = math.ceil(self.n_episodes / env.num_envs)

        reset_seeds = rollout_buffer.begin_rollout(episodes_per_env)
        if reset_seeds is not None:
            # a grouped rollout: every env starts from its group's seed
            self._reset_all_envs(env, reset_seeds, rollout_buffer.reset_options)
        elif not np.array_equal(~np.asarray(self._last_episode_starts, dtype=bool), rollout_buffer.in_flight):
            # an episode is in flight from before the last update and its start is not in the buffer: it was
            # played by older parameters, so the envs start afresh
            self._reset_all_envs(env)
            rollout_buffer.reset()
        if self.use_sde:
            # one exploration matrix per env for the whole rollout (and every sde_sample_freq steps if > 0)
            self.policy.reset_noise(env.num_envs)
        callback.on_rollout_start()

        # (n_envs,): the loop step at which each env's current episode started (its length so far: n_steps - it)
        episode_starts_at = np.zeros(env.num_envs, dtype=np.int64)
        n_steps = 0
        # the envs' episode counts change only when an episode ends: looked at then, not every step
        collecting = bool(np.any(rollout_buffer.finished_episodes < episodes_per_env))
        while collecting:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps > 0 and n_steps % self.sde_sample_freq == 0:
                # Sample a new noise matrix
                self.policy.reset_noise(env.num_envs)
            n_steps += 1
            obs = self._last_obs
            assert obs is not None  # set by _setup_learn and by every reset
            action_masks = self._action_masks(env)
            actions, clipped_actions, values = self._sample(obs, action_masks)
            new_obs, rewards, dones, infos = env.step(clipped_actions)
            self.num_timesteps += env.num_envs
            self._raise_dropping_rollout(
                rollout_buffer, observation_error(new_obs, episode_starts_at, n_steps, self.num_timesteps)
            )

            # Give access to local variables
            callback.update_locals(locals())
            if not callback.on_step():
                # the envs are mid-episode and the rollout is dropped: the next rollout starts from a reset
                self._drop_rollout(rollout_buffer)
                return False

            if self.bootstrap_truncated:
                rewards = bootstrap_truncated_rewards(self.policy, rewards, dones, infos, self.gamma)
            rollout_buffer.add(obs, actions, rewards, dones, values, infos, action_masks)
            self._last_obs = new_obs  # type: ignore[assignment]  # SB3 types a VecEnv's observations with tuples too
            self._last_episode_starts = dones
            if dones.any():
                episode_starts_at[dones] = n_steps
                reset_seeds = rollout_buffer.reset_request()
                if reset_seeds is not None:
                    # the next wave of a grouped rollout: every env starts again, from its group's seed
                    self._reset_all_envs(env, reset_seeds, rollout_buffer.reset_options)
                    episode_starts_at[:] = n_steps
                collecting = bool(np.any(rollout_buffer.finished_episodes < episodes_per_env))
            if rollout_buffer.pos > self.episode_length_limit:  # no episode can be longer than the rollout so far
                waited_for = rollout_buffer.finished_episodes < episodes_per_env
                self._raise_dropping_rollout(
                    rollout_buffer, episode_length_error(waited_for, n_steps - episode_starts_at, self.episode_length_limit)
                )

        self._finish_rollout(rollout_buffer, episodes_per_env, n_steps)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def _sample(
        self, obs: np.ndarray | dict[str, np.ndarray], action_masks: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, th.Tensor | None]:
        """
        The actions of every env at ``obs`` (``_last_obs``), without gradient (see
        :func:`~sb3_reinforce.sampling.sample_actions`, whose steps this runs without its layers of calls: it runs
        every step).
        """
        with th.no_grad():
            # the model's device, not the policy's property, which walks the parameters
            obs_tensor = obs_as_tensor(obs, self.device)
            action_tensor, values = self.policy.sample_actions(obs_tensor, action_masks)
        return (*stored_and_env_actions(self.policy, action_tensor), values)

    def _finish_rollout(self, rollout_buffer: EpisodicRolloutBuffer, episodes_per_env: int, n_steps: int) -> None:
        """Compute the rollout's returns and advantages, and log what it used."""
        try:
            rollout_buffer.compute_returns_and_advantage(
                episodes_per_env=episodes_per_env,
                reward_to_go=self.reward_to_go,
                normalize_advantage=self.normalize_advantage,
                advantages_fn=self._baseline.advantages,
            )
        except ValueError:
            self._drop_rollout(rollout_buffer)
            raise
        rollout_buffer.end_rollout(functools.partial(self._log_prob_of, rollout_buffer))
        # episode statistics (rollout/ep_rew_mean, ...) from the episodes this update uses, each once
        used_infos = rollout_buffer.used_episode_infos()
        self._update_info_buffer(used_infos, np.ones(len(used_infos), dtype=bool))
        # what SB3 code (e.g. a trainer that sizes its training steps as n_envs * n_steps) reads as a rollout's length
        self.n_steps = n_steps
        self.logger.record("rollout/n_episodes", rollout_buffer.n_episodes)
        self.logger.record("rollout/n_steps", rollout_buffer.n_used_steps)
        for key, value in rollout_buffer.rollout_statistics().items():
            self.logger.record(f"rollout/{key}", value)

    def _drop_rollout(self, rollout_buffer: EpisodicRolloutBuffer) -> None:
        """Forget an incomplete rollout: the envs are mid-episode, so the next rollout starts from a reset."""
        rollout_buffer.reset()
        self._last_episode_starts = np.zeros(rollout_buffer.n_envs, dtype=bool)

    def _log_prob_of(self, rollout_buffer: EpisodicRolloutBuffer, steps: np.ndarray, envs: np.ndarray) -> np.ndarray:
        """``log pi(a|s)`` under the current parameters of the buffer's steps ``(steps, envs)``, in chunks, no grad."""
        return log_prob_of(self.policy, rollout_buffer, steps, envs, self.batch_size)

    def _reset_all_envs(self, env: VecEnv, seeds: list[int | None] | None = None, options: list[dict] | None = None) -> None:
        """
        Reset every env to the start of a new episode (a new game under ``EpisodicLifeEnv``), env ``i`` with
        ``seeds[i]`` and ``options[i]`` when given.
        """
        self._last_obs = reset_all_envs(env, seeds, options)
        self._last_episode_starts = np.ones((env.num_envs,), dtype=bool)

    def _raise_dropping_rollout(self, rollout_buffer: EpisodicRolloutBuffer, error: Exception | None) -> None:
        """Drop the rollout and raise ``error``, when there is one (a bad observation, an episode too long)."""
        if error is not None:
            self._drop_rollout(rollout_buffer)
            raise error

    def _init_callback(self, callback: MaybeCallback, progress_bar: bool = False) -> BaseCallback:
        """SB3's callback, with a progress bar whose total follows a last rollout that runs past the budget."""
        callback = with_episodic_progress_bar(callback, progress_bar)
        callback.init_callback(self)
        return callback

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        """Set the learning rate of the update; a :class:`StepsLinearSchedule` is read at the rollout's first step."""
        if not isinstance(self.learning_rate, StepsLinearSchedule):
            super()._update_learning_rate(optimizers)
            return
        learning_rate = self._schedule_value(self.learning_rate)
        self.logger.record("train/learning_rate", learning_rate)
        for optimizer in optimizers if isinstance(optimizers, list) else [optimizers]:
            update_learning_rate(optimizer, learning_rate)

    def _update_current_progress_remaining(self, num_timesteps: int, total_timesteps: int) -> None:
        """
        Progress remaining at the start of the rollout just collected, not after it: a rollout of whole episodes
        can run past ``total_timesteps``, where SB3's progress (and a schedule decaying to 0) would reach 0.

        :param num_timesteps: current number of timesteps (the progress uses the rollout's first step instead)
        :param total_timesteps: the total number of timesteps of this ``learn()`` call
        """
        super()._update_current_progress_remaining(min(self._rollout_start_timesteps, num_timesteps), total_timesteps)

    def train(self) -> None:
        """
        Update policy using the currently gathered rollout buffer: one gradient step over all its used steps,
        accumulated over chunks of ``batch_size`` steps.
        """
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        # Update optimizer learning rate
        self._update_learning_rate(self.policy.optimizer)
        # Importance weights of the episodes carried from the last rollout (none without carrying)
        self._record_weights(self.rollout_buffer.begin_update(functools.partial(self._log_prob_of, self.rollout_buffer)))

        n_steps = self.rollout_buffer.n_used_steps
        policy_loss_sum, entropy_loss_sum, value_loss_sum = 0.0, 0.0, 0.0
        self.policy.optimizer.zero_grad()
        for rollout_data in self.rollout_buffer.get(self.batch_size):
            actions = rollout_data.actions
            if isinstance(self.action_space, spaces.Discrete):
                # Convert discrete action from float to long
                actions = actions.long().flatten()

            log_prob, entropy, values = self._baseline.evaluate(self.policy, rollout_data, actions)
            # this chunk's share of the batch: chunk means weighted by it add up to the batch mean
            weight = len(actions) / n_steps

            # Policy gradient loss (the advantages carry no gradient), importance-weighted
            policy_loss = -(rollout_data.weights * rollout_data.advantages * log_prob).mean()

            # Entropy loss favor exploration (approximated by -log_prob when there is no analytical form)
            entropy_loss = th.mean(log_prob) if entropy is None else -th.mean(entropy)

            # Value loss when the baseline is fitted in this step (0 otherwise)
            value_loss = self._baseline.value_loss(values, rollout_data)

            loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
            if not th.isfinite(loss):
                self.policy.optimizer.zero_grad()
                raise ValueError(
                    f"The REINFORCE loss is not finite ({loss.item()}): no parameter was changed. "
                    "Check the observations, rewards and learning rate."
                )
            (weight * loss).backward()
            policy_loss_sum += weight * policy_loss.item()
            entropy_loss_sum += weight * entropy_loss.item()
            value_loss_sum += weight * value_loss.item()

        # Clip grad norm
        grad_norm = th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
        if not th.isfinite(grad_norm):
            self.policy.optimizer.zero_grad()
            raise ValueError(f"The gradient norm is not finite ({grad_norm.item()}): no parameter was changed.")
        self.policy.optimizer.step()
        # A baseline fitted on its own takes its step now, after the policy's
        self._fit_baseline()

        self._n_updates += 1
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/n_episodes", self.rollout_buffer.n_episodes)
        self.logger.record("train/n_steps", n_steps)
        self.logger.record("train/policy_loss", policy_loss_sum)
        self.logger.record("train/entropy_loss", entropy_loss_sum)
        self.logger.record("train/grad_norm", grad_norm.item())
        self._baseline.record(self.logger, value_loss_sum, self.rollout_buffer)
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())

    def _fit_baseline(self) -> None:
        """Fit the baseline to the batch just used (a value network fitted on its own; nothing for the others)."""
        self._baseline.fit(self.policy, self.rollout_buffer, self._schedule_value(self.vf_learning_rate), self.logger)

    def _record_weights(self, weights: np.ndarray) -> None:
        """Log the range of the importance weights of the carried episodes, when there are any."""
        if len(weights) > 0:
            self.logger.record("train/importance_weight_min", float(weights.min()))
            self.logger.record("train/importance_weight_max", float(weights.max()))

    def learn(
        self: SelfREINFORCE,
        total_timesteps: int = 100_000,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "REINFORCE",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfREINFORCE:
        """
        Train for at least ``total_timesteps`` env steps (100,000 by default, enough for CartPole-v1 with the
        default hyperparameters). A rollout is never cut: the last one may run past ``total_timesteps``.

        :param total_timesteps: The total number of env steps to train on
        :param callback: callback(s) called at every step with state of the algorithm.
        :param log_interval: The number of rollouts before logging.
        :param tb_log_name: the name of the run for TensorBoard logging
        :param reset_num_timesteps: whether or not to reset the current timestep number (used in logging)
        :param progress_bar: Display a progress bar using tqdm and rich.
        :return: the trained model
        """
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
