import contextlib
import math
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.atari_wrappers import EpisodicLifeEnv
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import obs_as_tensor, update_learning_rate
from stable_baselines3.common.vec_env import VecEnv

from sb3_reinforce.buffers import DictEpisodicRolloutBuffer, EpisodicRolloutBuffer
from sb3_reinforce.callbacks import with_episodic_progress_bar
from sb3_reinforce.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, REINFORCEPolicy

SelfREINFORCE = TypeVar("SelfREINFORCE", bound="REINFORCE")

# Steps per env the rollout buffer holds before it first grows; it doubles when full and keeps its size.
_INITIAL_BUFFER_CAPACITY = 256


class StepsLinearSchedule:
    """
    A learning rate that decays linearly with the model's env steps (``num_timesteps``) rather than with the
    progress of one ``learn()`` call: from ``initial`` at step 0 to ``final`` at ``decay_steps``, then constant.

    REINFORCE reads it at the ``num_timesteps`` of each rollout's start, so training in a loop
    (``learn(N, reset_num_timesteps=False)`` repeated) follows the same rates as one long call, the first update
    of a short ``learn()`` runs at ``initial``, and no update runs at 0 when ``final > 0``. ``learn()`` with
    ``reset_num_timesteps=True`` restarts ``num_timesteps``, hence the decay.

    :param initial: Learning rate at step 0
    :param final: Learning rate from ``decay_steps`` on
    :param decay_steps: Env steps over which the rate decays
    """

    def __init__(self, initial: float, final: float, decay_steps: int):
        if not (initial > 0 and final > 0 and decay_steps >= 1):
            raise ValueError(
                "StepsLinearSchedule needs initial > 0, final > 0 and decay_steps >= 1, "
                f"got initial={initial!r}, final={final!r}, decay_steps={decay_steps!r}"
            )
        self.initial, self.final, self.decay_steps = float(initial), float(final), int(decay_steps)

    def value_at(self, num_timesteps: int) -> float:
        """The learning rate after ``num_timesteps`` env steps."""
        fraction = min(max(num_timesteps, 0) / self.decay_steps, 1.0)
        return (1.0 - fraction) * self.initial + fraction * self.final

    def __call__(self, progress_remaining: float) -> float:
        # As an SB3 schedule (the optimizer's rate when the policy is built): the rate at step 0. SB3's progress
        # is ignored; REINFORCE calls value_at() with its env steps.
        return self.initial

    def __repr__(self) -> str:
        return f"StepsLinearSchedule(initial={self.initial}, final={self.final}, decay_steps={self.decay_steps})"


# Default learning rate: 5e-3 decaying linearly to 1e-4 over the first 100,000 env steps of the model (learn()'s
# default budget), measured on CartPole-v1 (README, "Default hyperparameters, measured").
DEFAULT_LEARNING_RATE = StepsLinearSchedule(5e-3, 1e-4, 100_000)

# Defaults of the value fit (value_fit="separate"), measured on CartPole-v1 (README, "Baselines")
DEFAULT_VF_LEARNING_RATE = 1e-2
DEFAULT_VF_N_EPOCHS = 5
DEFAULT_VF_BATCH_SIZE = 256

# With carry_episodes: an env carries at most this many rollouts' worth of whole episodes. Measured on CartPole-v1
# with 8 envs (README, "Carrying episodes"): with 2, more of the used steps come from older parameters, with
# weights further from 1, and 2 of 5 seeds solved instead of 4
_CARRIED_ROLLOUTS = 1

# Default of ``episode_length_limit``: the longest episode a rollout waits for before it raises. It is above every
# Gymnasium time limit and ALE's (NoFrameskip-v4: 400,000 frames, i.e. 100,000 agent steps with a frame skip of 4)
DEFAULT_EPISODE_LENGTH_LIMIT = 100_000

# Arguments of A2C and PPO that REINFORCE has no use for: what it uses instead, and the value that means "the same
# as REINFORCE" (accepted silently), or None when any value is rejected
_A2C_PPO_ARGUMENTS: dict[str, tuple[str, Any]] = {
    "n_steps": ("a rollout is made of whole episodes: set n_episodes (episodes per update) instead", None),
    "gae_lambda": ("REINFORCE uses Monte Carlo returns, which is gae_lambda=1; use use_baseline for a baseline", 1.0),
    "rollout_buffer_class": ("REINFORCE picks its own episodic buffer (EpisodicRolloutBuffer)", None),
    "rollout_buffer_kwargs": ("REINFORCE picks its own episodic buffer (EpisodicRolloutBuffer)", None),
    "use_rms_prop": ("pass policy_kwargs=dict(optimizer_class=torch.optim.RMSprop) to use RMSprop", None),
    "rms_prop_eps": ("pass policy_kwargs=dict(optimizer_kwargs=dict(eps=...)) to set the optimizer's eps", None),
    "n_epochs": ("REINFORCE makes one gradient step per rollout (it is not PPO)", None),
    "clip_range": ("REINFORCE has no clipped surrogate objective (it is not PPO)", None),
    "clip_range_vf": ("REINFORCE has no clipped value objective (it is not PPO)", None),
    "target_kl": ("REINFORCE makes one gradient step per rollout (it is not PPO)", None),
}


class REINFORCE(OnPolicyAlgorithm):
    """
    REINFORCE: Monte Carlo policy gradient, with optional learned baseline (Williams, 1992).

    Paper: https://doi.org/10.1007/BF00992696

    Every update uses whole episodes played under the current parameters and weights each step's
    log-likelihood gradient by its exact Monte Carlo return. Nothing is bootstrapped, at a rollout boundary or
    (unless ``bootstrap_truncated``) at a time limit: a truncated episode's return simply ends there.

    **Rollouts.** Each of the ``n_envs`` envs plays ``ceil(n_episodes / n_envs)`` whole episodes, all envs
    stepping in lockstep. Because every env contributes the same number of episodes, the batch is a set of
    i.i.d. episodes and is not biased towards short ones (taking the first ``n_episodes`` episodes to finish
    across envs would be). An env that has finished its episodes keeps stepping until the slowest one is done;
    by default those steps are carried to the next rollout (below). With ``carry_episodes=False`` they count in
    ``num_timesteps``, are never used for a gradient and are logged as ``rollout/unused_steps``; an episode still
    running when a rollout ends was partly played under the old parameters, so the next rollout starts by
    resetting the envs (``VecEnv.reset``) whenever one of them is mid-episode. With ``n_envs=1`` neither happens.
    The same reset follows a rollout that did not complete (a
    callback stopped training, or an error). An env wrapped in SB3's ``EpisodicLifeEnv`` (``AtariWrapper``)
    would only take a no-op step on such a reset and go on with the same game, so its next reset is made a real
    one (a new game) first.

    **Carrying instead of dropping** (``carry_episodes=True``, the default). The steps an env takes after its share keep their
    place in the env's episode sequence: they start the env's next rollout. An episode that began under the
    previous parameters ``mu`` and ends under the current ``pi`` enters the update with the weight
    ``w = prod_t pi(a_t|s_t) / mu(a_t|s_t)`` over its steps played under ``mu`` (``log mu`` is recorded before
    the update that follows its steps), which makes its expected contribution that of an episode played wholly
    under ``pi``. Each env's episodes are used in the order it played them, ``ceil(n_episodes / n_envs)`` per
    update; to keep carried steps recent, an env carries at most one update's worth of whole episodes, and what
    lies behind them (the rest of that env's sequence until its next episode start) is dropped. Which episodes
    are used or dropped depends only on their position in the sequence and on timing, never on their content,
    so the batch stays unbiased. No env is reset at a rollout's start. ``rollout/carried_steps`` counts the used
    steps played under earlier parameters, ``rollout/unused_steps`` the dropped ones, and
    ``train/importance_weight_min`` / ``_max`` show the weights.

    **Episode statistics.** ``rollout/ep_rew_mean`` and ``rollout/ep_len_mean`` (console, TensorBoard) average the
    episodes the updates used. The ``Monitor`` files (``monitor.csv``, read by rl-zoo3's plots) hold every
    episode an env finished, including the ones finished envs played while waiting for the slowest (unused,
    and on average shorter), and never the episodes cut by the rollout-start reset; with ``n_envs=1`` the two
    are the same.

    **Episodes must end.** A rollout waits for whole episodes; an episode that runs for more than
    ``episode_length_limit`` steps raises a ``RuntimeError`` (no update is made), so an env without a time limit
    cannot hang ``learn()``. Wrap such an env in ``gymnasium.wrappers.TimeLimit``.

    **n_steps.** As for A2C and PPO, ``n_steps`` is what each env steps in a rollout, for code written for any
    ``OnPolicyAlgorithm`` (a trainer that sizes its rounds as ``n_envs * n_steps``): the steps of the last rollout,
    and before the first one ``episodes_per_env`` times the env's time limit (256 without a time limit). It is not a
    hyperparameter; the buffer's capacity (``rollout_buffer.buffer_size``) grows as rollouts need.

    **Learning rate schedules** are evaluated at the progress at the start of each rollout (the steps done
    before the data of the update was collected), so a schedule decaying to 0 never makes an update at 0. With
    ``reset_num_timesteps=False`` the progress runs over the steps of that call, as in SB3.

    **Saving and resuming.** ``save`` stores the parameters, the optimizer state and the hyperparameters; it does
    not store the random generators (torch, NumPy, the env's) or the env's state. ``load(path, env)`` then
    ``learn(..., reset_num_timesteps=False)`` continues training from the saved parameters; as in SB3, it starts
    with a reset of the env, re-seeded with the model's seed. To repeat an uninterrupted run step for step, keep the
    env and the torch generator state: ``load(path)``, ``torch.set_rng_state(...)``, then
    ``set_env(env, force_reset=False)``.

    **Update.** One optimizer step per rollout on the loss

        L = -mean_t[A_t log pi(a_t|s_t)] - ent_coef * mean_t[H(pi(.|s_t))] + vf_coef * mean_t[(G_t - V(s_t))^2]

    where every mean runs over all the steps of the rollout's episodes (the reduction SB3's A2C and PPO use).
    Its policy term is the textbook per-batch estimate ``(1/N_episodes) sum_episodes sum_t A_t grad log pi``
    scaled by ``N_episodes / N_steps``: the same direction, a step size that does not grow with episode length.
    ``A_t = G_t - b_t``, with ``b_t`` the leave-one-out baseline (the default), ``V(s_t)`` (a learned baseline, V
    detached) or 0 (``baseline="none"``). When the batch is larger
    than ``batch_size`` steps, gradients are accumulated over chunks of ``batch_size`` steps before the single
    optimizer step, so memory stays bounded; the result does not depend on ``batch_size``.

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
    :param use_baseline: True: learn a value network V(s), fitted to the returns by MSE, and use it as the baseline
        ``b(s) = V(s)`` (the same as ``baseline="value"``); False: no baseline (``baseline="none"``); None (default):
        see ``baseline``. Without a learned baseline the policy has no value network at all
    :param baseline: The baseline subtracted from the returns: ``"none"``, ``"value"`` (a learned value network,
        as ``use_baseline=True``) or ``"leave_one_out"`` (each episode's baseline at step ``t`` is the mean return
        of the batch's other episodes at their step ``t``, 0 after they end; unbiased, no network; needs at least
        2 episodes per update). None (default): from ``use_baseline`` when it is given, otherwise
        ``"leave_one_out"`` when ``n_episodes >= 2`` and ``"none"`` when ``n_episodes == 1``
    :param bootstrap_truncated: With a learned baseline only: at a time-limit truncation, add ``gamma * V(s_T)``
        of the final observation to the last reward, treating the time limit as not part of the task
    :param normalize_advantage: Standardise the advantages over the batch (mean 0, std 1; a batch of one step is
        left as is)
    :param ent_coef: Entropy coefficient for the loss calculation
    :param vf_coef: Value function coefficient for the loss calculation (``value_fit="joint"`` only)
    :param value_fit: How the value baseline (``baseline="value"``) is fitted to the Monte Carlo returns.
        ``"separate"`` (default): after the policy's step, with its own optimizer (the policy's optimizer class
        and kwargs, learning rate ``vf_learning_rate``), ``vf_n_epochs`` passes over the batch in shuffled
        minibatches of ``vf_batch_size`` steps, not clipped; only V's own layers are trained (a features extractor
        shared with the policy is left to the policy). The advantages of a batch use V as it was before that batch,
        fitted on earlier batches only, so they stay unbiased. ``"joint"``: one step of ``vf_coef`` times the value
        loss added to the policy's loss, with the same optimizer and gradient clipping (A2C's way; what
        ``use_baseline=True`` did before this argument existed, and what a model saved then loads with)
    :param vf_learning_rate: Learning rate of the value fit (``value_fit="separate"``): a number, a function of
        the progress remaining, or a :class:`StepsLinearSchedule`
    :param vf_n_epochs: Passes over the batch per value fit (``value_fit="separate"``)
    :param vf_batch_size: Minibatch size (steps) of the value fit (``value_fit="separate"``)
    :param max_grad_norm: The maximum value for the gradient clipping (``math.inf`` disables clipping)
    :param batch_size: Number of steps per gradient-accumulation chunk, or None to process the whole batch at once
    :param carry_episodes: Keep the steps an env takes after its used episodes (while waiting for the slowest env)
        for the next rollout instead of dropping them (up to one rollout's worth of whole episodes per env), and
        weight each episode partly played under earlier parameters by its likelihood ratio (importance sampling).
        With one env nothing is ever waited for, so it changes nothing there (the same parameters for a seed);
        False drops those steps and resets the envs that are mid-episode at the next rollout's start
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE) instead of action noise
        (``Box`` actions only; ``log_std_init``, ``full_std``, ``use_expln`` and ``squash_output`` go in
        ``policy_kwargs``; a squashed action is rescaled to the bounds, an unsquashed one clipped to them)
    :param sde_sample_freq: Sample a new noise matrix every n steps of a rollout when using gSDE; -1: once per
        rollout, at its start (so every episode of a rollout explores with the same matrix, one per env). Only 1
        (a new matrix every step) keeps the policy gradient unbiased: the loss scores each action by its own
        Gaussian, as if the steps' noises were independent, and a matrix shared by several steps makes them
        correlated (as in A2C and PPO, where it spans one rollout of ``n_steps``; here whole episodes by default)
    :param episode_length_limit: Longest episode (in steps) a rollout waits for; a longer one raises a
        ``RuntimeError`` naming the env. Memory stays bounded by ``episodes_per_env * episode_length_limit`` steps
        per env
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
    }
    policy: REINFORCEPolicy
    rollout_buffer: EpisodicRolloutBuffer  # type: ignore[assignment]

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
        carry_episodes: bool = True,
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
        _check_a2c_ppo_arguments(kwargs)
        _check_hyperparameters(
            learning_rate=learning_rate,
            n_episodes=n_episodes,
            gamma=gamma,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            batch_size=batch_size,
            episode_length_limit=episode_length_limit,
            stats_window_size=stats_window_size,
            flags=dict(
                reward_to_go=reward_to_go,
                use_baseline=False if use_baseline is None else use_baseline,
                bootstrap_truncated=bootstrap_truncated,
                normalize_advantage=normalize_advantage,
                carry_episodes=carry_episodes,
                use_sde=use_sde,
            ),
        )
        if not _is_integer(sde_sample_freq):
            raise ValueError(f"sde_sample_freq must be an integer (-1: once per rollout), got {sde_sample_freq!r}")
        baseline = _resolve_baseline(baseline, use_baseline, n_episodes)
        use_baseline = baseline == "value"
        _check_value_fit(baseline, value_fit, vf_learning_rate, vf_n_epochs, vf_batch_size)
        if bootstrap_truncated and not use_baseline:
            raise ValueError("bootstrap_truncated=True needs a learned baseline to bootstrap from: set use_baseline=True")
        if policy_kwargs is not None and "use_value_net" in policy_kwargs:
            raise ValueError("Do not pass use_value_net in policy_kwargs: REINFORCE sets it from use_baseline")

        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            # the buffer's initial capacity; after _setup_model, each env's steps in the last rollout
            n_steps=_INITIAL_BUFFER_CAPACITY,
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
        self.use_baseline = use_baseline
        # load() builds the model with _init_setup_model=False, then restores the saved attributes: None marks a
        # baseline that a model saved before the argument existed does not restore (see _setup_model)
        self.baseline: str | None = baseline if _init_setup_model else None
        # same for value_fit: a model saved before it existed was fitted jointly (see _setup_model)
        self.value_fit: str | None = (value_fit or "separate") if _init_setup_model else value_fit
        self.vf_learning_rate = vf_learning_rate
        self.vf_n_epochs = vf_n_epochs
        self.vf_batch_size = vf_batch_size
        self.vf_optimizer: th.optim.Optimizer | None = None
        self.bootstrap_truncated = bootstrap_truncated
        self.normalize_advantage = normalize_advantage
        self.batch_size = batch_size
        self.episode_length_limit = episode_length_limit
        self.carry_episodes = carry_episodes
        # num_timesteps when the last rollout started: the learning rate schedule's progress is taken there
        self._rollout_start_timesteps = 0

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        if self.policy_class is not None and not issubclass(self.policy_class, REINFORCEPolicy):
            raise ValueError(
                f"REINFORCE needs a REINFORCEPolicy (MlpPolicy, CnnPolicy, MultiInputPolicy), got {self.policy_class}"
            )
        if isinstance(self.observation_space, spaces.Dict):
            self.rollout_buffer_class = DictEpisodicRolloutBuffer  # type: ignore[assignment]
        else:
            self.rollout_buffer_class = EpisodicRolloutBuffer  # type: ignore[assignment]
        if self.baseline is None:
            # a model saved before the baseline argument existed: only use_baseline says which it had
            self.baseline = "value" if self.use_baseline else "none"
        if self.value_fit is None:
            # a model saved before the value_fit argument existed: its value network was fitted jointly
            self.value_fit = "joint"
        if self.baseline == "leave_one_out" and self.episodes_per_env * self.n_envs < 2:
            raise ValueError(
                f"baseline='leave_one_out' needs at least 2 episodes per update, got n_episodes={self.n_episodes} "
                f"with n_envs={self.n_envs}"
            )
        user_policy_kwargs = {key: value for key, value in self.policy_kwargs.items() if key != "use_value_net"}
        # the policy gets use_value_net from use_baseline; the stored policy_kwargs stay the user's, so that
        # load(..., policy_kwargs=<the same kwargs>) matches them (models saved before kept it in there)
        self.policy_kwargs = {**user_policy_kwargs, "use_value_net": self.use_baseline}
        # SB3 sizes the buffer from n_steps: the initial capacity, which doubles whenever a rollout needs more
        self.n_steps = _INITIAL_BUFFER_CAPACITY
        try:
            super()._setup_model()
        finally:
            self.policy_kwargs = user_policy_kwargs
        self.n_steps = self._expected_rollout_steps()
        self.vf_optimizer = None
        if self.fits_value_separately:
            self.vf_optimizer = self.policy.optimizer_class(  # type: ignore[call-arg]
                self.policy.value_parameters(),
                lr=self._schedule_value(self.vf_learning_rate),
                **self.policy.optimizer_kwargs,
            )
        if self.n_episodes % self.n_envs != 0:
            warnings.warn(
                f"n_episodes={self.n_episodes} is not a multiple of n_envs={self.n_envs}: every env plays the same "
                f"number of episodes, so each update uses {self.episodes_per_env * self.n_envs} episodes.",
                UserWarning,
            )

    def _expected_rollout_steps(self) -> int:
        """
        Each env's steps in a rollout, before the first one is played: ``episodes_per_env`` episodes as long as the
        env's time limit allows, or the buffer's initial capacity when the env has no time limit.
        """
        try:
            spec = self.env.get_attr("spec", indices=0)[0] if self.env is not None else None
        except AttributeError:
            spec = None
        max_episode_steps = getattr(spec, "max_episode_steps", None)
        if max_episode_steps is None:
            return _INITIAL_BUFFER_CAPACITY
        return self.episodes_per_env * int(max_episode_steps)

    @property
    def fits_value_separately(self) -> bool:
        """Whether the value baseline is fitted by its own optimizer after the policy step (``value_fit``)."""
        return self.baseline == "value" and self.value_fit == "separate"

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        if self.vf_optimizer is not None:
            state_dicts = [*state_dicts, "vf_optimizer"]
        return state_dicts, variables

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "vf_optimizer"]

    def _schedule_value(self, schedule: float | Schedule) -> float:
        """A learning rate now: a :class:`StepsLinearSchedule` at the rollout's first step, any other schedule at
        the progress remaining then, a number as it is."""
        if isinstance(schedule, StepsLinearSchedule):
            return schedule.value_at(self._rollout_start_timesteps)
        if callable(schedule):
            return float(schedule(self._current_progress_remaining))
        return float(schedule)

    @property
    def episodes_per_env(self) -> int:
        """Number of whole episodes each env plays per rollout."""
        return math.ceil(self.n_episodes / self.n_envs)

    def collect_rollouts(  # type: ignore[override]
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

        # from the env stepped here, which need not be self.env (diagnostics collect in a separate env)
        episodes_per_env = math.ceil(self.n_episodes / env.num_envs)
        if self.carry_episodes:
            # the steps each env took after its used episodes start this rollout (importance-weighted)
            rollout_buffer.carry_unused(max_episodes=_CARRIED_ROLLOUTS * episodes_per_env)
        else:
            rollout_buffer.reset()
        if not np.array_equal(~np.asarray(self._last_episode_starts, dtype=bool), rollout_buffer.in_flight):
            # an episode is in flight from before the last update and its start is not in the buffer (not carried,
            # or lost to a reset of the buffer): it was played by older parameters, so the envs start afresh
            self._reset_all_envs(env)
            rollout_buffer.reset()
        if self.use_sde:
            # one exploration matrix per env for the whole rollout (and every sde_sample_freq steps if > 0)
            self.policy.reset_noise(env.num_envs)
        callback.on_rollout_start()

        # (n_envs,): whole episodes of each env in the buffer (carried ones included)
        finished = rollout_buffer.finished_episodes.astype(np.int64)
        # (n_envs,): the loop step at which each env's current episode started (its length so far: n_steps - it)
        episode_starts_at = np.zeros(env.num_envs, dtype=np.int64)
        collecting = bool(np.any(finished < episodes_per_env))
        n_steps = 0
        while collecting:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps > 0 and n_steps % self.sde_sample_freq == 0:
                # Sample a new noise matrix
                self.policy.reset_noise(env.num_envs)
            n_steps += 1
            with th.no_grad(), _without_distribution_validation():
                obs_tensor = obs_as_tensor(self._last_obs, self.device)  # type: ignore[arg-type]
                action_tensor, values = self.policy.sample_actions(obs_tensor)
            actions = action_tensor.cpu().numpy()

            # The env gets an action inside its bounds; the buffer stores the one sampled (its log-prob is the
            # distribution's): squashed (tanh, in [-1, 1], gSDE with squash_output=True) it is rescaled to the
            # bounds as predict() does, otherwise the unbounded Gaussian sample is clipped to them
            clipped_actions = actions
            if isinstance(self.action_space, spaces.Box):
                if self.policy.squash_output:
                    clipped_actions = self.policy.unscale_action(actions)
                else:
                    clipped_actions = np.clip(actions, self.action_space.low, self.action_space.high)

            new_obs, rewards, dones, infos = env.step(clipped_actions)

            self.num_timesteps += env.num_envs
            bad_env = first_non_finite_env(new_obs)
            if bad_env is not None:
                self._drop_rollout(rollout_buffer)
                raise ValueError(
                    f"The observation of env {bad_env} is not finite (NaN or inf) after step "
                    f"{n_steps - episode_starts_at[bad_env]} of its episode (num_timesteps={self.num_timesteps}): no "
                    "update was made. Wrap the env in stable_baselines3.common.vec_env.VecCheckNan(env, "
                    "raise_exception=True) to find the action or step that produces it."
                )

            # Give access to local variables
            callback.update_locals(locals())
            if not callback.on_step():
                # the envs are mid-episode and the rollout is dropped: the next rollout starts from a reset
                self._drop_rollout(rollout_buffer)
                return False

            if dones.any():  # the per-episode bookkeeping runs only when an episode ends
                finished += dones & ~rollout_buffer.skipping  # an episode dropped in flight does not count
                episode_starts_at[dones] = n_steps
                collecting = bool(np.any(finished < episodes_per_env))

            if isinstance(self.action_space, spaces.Discrete):
                # Reshape in case of discrete action
                actions = actions.reshape(-1, 1)

            if self.bootstrap_truncated:
                rewards = self._bootstrap_truncated(rewards, dones, infos)

            rollout_buffer.add(self._last_obs, actions, rewards, dones, values, infos)  # type: ignore[arg-type]
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones
            if rollout_buffer.pos > self.episode_length_limit:  # no episode can be longer than the rollout so far
                self._check_episode_lengths(rollout_buffer, n_steps - episode_starts_at, finished < episodes_per_env)

        try:
            rollout_buffer.compute_returns_and_advantage(
                episodes_per_env=episodes_per_env,
                reward_to_go=self.reward_to_go,
                normalize_advantage=self.normalize_advantage,
                leave_one_out=self.baseline == "leave_one_out",
            )
        except ValueError:
            self._drop_rollout(rollout_buffer)
            raise
        if self.carry_episodes:
            self._record_behaviour_log_prob(rollout_buffer)
        # episode statistics (rollout/ep_rew_mean, ...) from the episodes this update uses, each once
        used_infos = rollout_buffer.used_episode_infos()
        self._update_info_buffer(used_infos, np.ones(len(used_infos), dtype=bool))
        # what SB3 code (e.g. a trainer that sizes its rounds as n_envs * n_steps) reads as a rollout's length
        self.n_steps = n_steps
        self.logger.record("rollout/n_episodes", rollout_buffer.n_episodes)
        self.logger.record("rollout/n_steps", rollout_buffer.n_used_steps)
        if self.carry_episodes:
            self.logger.record("rollout/carried_steps", rollout_buffer.n_carried_steps)
            self.logger.record("rollout/unused_steps", rollout_buffer.n_dropped_steps)
        else:
            self.logger.record("rollout/unused_steps", rollout_buffer.n_unused_steps)

        callback.update_locals(locals())
        callback.on_rollout_end()

        return True

    def _drop_rollout(self, rollout_buffer: EpisodicRolloutBuffer) -> None:
        """Forget an incomplete rollout: the envs are mid-episode, so the next rollout starts from a reset."""
        rollout_buffer.reset()
        self._last_episode_starts = np.zeros(rollout_buffer.n_envs, dtype=bool)

    def _record_behaviour_log_prob(self, rollout_buffer: EpisodicRolloutBuffer) -> None:
        """
        Store ``log pi(a_t|s_t)`` under the current parameters for the steps this rollout played but does not use:
        they are carried to the next rollout, whose update weights them against the parameters of then.
        """
        new_steps = ~rollout_buffer.used & ~rollout_buffer.played_before[: rollout_buffer.pos]
        new_steps &= rollout_buffer.valid[: rollout_buffer.pos]
        steps, envs = np.nonzero(new_steps)
        if len(steps) > 0:
            rollout_buffer.behaviour_log_prob[steps, envs] = self._log_prob_of(rollout_buffer, steps, envs)

    def _log_prob_of(self, rollout_buffer: EpisodicRolloutBuffer, steps: np.ndarray, envs: np.ndarray) -> np.ndarray:
        """``log pi(a|s)`` under the current parameters of the buffer's steps ``(steps, envs)``, in chunks, no grad."""
        chunk = self.batch_size or max(len(steps), 1)
        out = [np.zeros(0, dtype=np.float32)]
        with th.no_grad():
            for start in range(0, len(steps), chunk):
                rows, cols = steps[start : start + chunk], envs[start : start + chunk]
                actions = rollout_buffer.to_torch(rollout_buffer.actions[rows, cols])
                if isinstance(self.action_space, spaces.Discrete):
                    actions = actions.long().flatten()
                _, log_prob, _ = self.policy.evaluate_actions(rollout_buffer._observation_batch(rows, cols), actions)
                out.append(log_prob.cpu().numpy())
        return np.concatenate(out)

    def _reset_all_envs(self, env: VecEnv) -> None:
        """Reset every env to the start of a new episode (a new game under ``EpisodicLifeEnv``)."""
        life_episodes = [index for index, wrapped in enumerate(env.env_is_wrapped(EpisodicLifeEnv)) if wrapped]
        if life_episodes:
            # EpisodicLifeEnv.reset() in the middle of a life only takes a no-op step: make it a real reset
            env.env_method("set_wrapper_attr", "was_real_done", True, indices=life_episodes)
        self._last_obs = env.reset()  # type: ignore[assignment]
        self._last_episode_starts = np.ones((env.num_envs,), dtype=bool)

    def _check_episode_lengths(
        self, rollout_buffer: EpisodicRolloutBuffer, episode_lengths: np.ndarray, waited_for: np.ndarray
    ) -> None:
        """Raise if an episode the rollout waits for has run past ``episode_length_limit`` steps (and drop it)."""
        too_long = np.flatnonzero(waited_for & (episode_lengths > self.episode_length_limit))
        if too_long.size == 0:
            return
        self._drop_rollout(rollout_buffer)
        raise RuntimeError(
            f"The episode of env {too_long[0]} has run for more than episode_length_limit={self.episode_length_limit} "
            "steps without ending: REINFORCE learns from whole episodes and waits for them to end. Give the env a time "
            "limit (gymnasium.wrappers.TimeLimit, or max_episode_steps in gymnasium.make / make_vec_env's env_kwargs), "
            "or raise episode_length_limit if its episodes really are that long. No update was made."
        )

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

    def _bootstrap_truncated(self, rewards: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]]) -> np.ndarray:
        """Add ``gamma * V(final observation)`` to the reward of every step that ended by truncation."""
        rewards = rewards.astype(np.float32, copy=True)
        for idx, done in enumerate(dones):
            if done and infos[idx].get("TimeLimit.truncated", False) and infos[idx].get("terminal_observation") is not None:
                terminal_obs = self.policy.obs_to_tensor(infos[idx]["terminal_observation"])[0]
                with th.no_grad():
                    terminal_value = self.policy.predict_values(terminal_obs)[0]  # type: ignore[arg-type]
                rewards[idx] += self.gamma * terminal_value.item()
        return rewards

    def train(self) -> None:
        """
        Update policy using the currently gathered rollout buffer: one gradient step over all its used steps,
        accumulated over chunks of ``batch_size`` steps.
        """
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        # Update optimizer learning rate
        self._update_learning_rate(self.policy.optimizer)

        n_steps = self.rollout_buffer.n_used_steps
        policy_loss_sum, entropy_loss_sum, value_loss_sum = 0.0, 0.0, 0.0
        if self.carry_episodes:
            self._set_importance_weights()

        self.policy.optimizer.zero_grad()
        for rollout_data in self.rollout_buffer.get(self.batch_size):
            actions = rollout_data.actions
            if isinstance(self.action_space, spaces.Discrete):
                # Convert discrete action from float to long
                actions = actions.long().flatten()

            if self.fits_value_separately:
                # V is fitted after this step, on its own: the policy's loss does not evaluate it
                distribution = self.policy.get_distribution(rollout_data.observations)
                values, log_prob, entropy = None, distribution.log_prob(actions), distribution.entropy()
            else:
                values, log_prob, entropy = self.policy.evaluate_actions(rollout_data.observations, actions)
            # this chunk's share of the batch: chunk means weighted by it add up to the batch mean
            weight = len(actions) / n_steps

            # Policy gradient loss (the advantages carry no gradient); the importance weights are 1 except on the
            # carried episodes (carry_episodes=True)
            policy_loss = -(rollout_data.weights * rollout_data.advantages * log_prob).mean()

            # Entropy loss favor exploration (approximated by -log_prob when there is no analytical form)
            entropy_loss = th.mean(log_prob) if entropy is None else -th.mean(entropy)

            loss = policy_loss + self.ent_coef * entropy_loss
            if values is not None:
                # Baseline fitted to the Monte Carlo returns
                value_loss = (rollout_data.weights * (rollout_data.returns - values.flatten()) ** 2).mean()
                loss = loss + self.vf_coef * value_loss
                value_loss_sum += weight * value_loss.item()

            if not th.isfinite(loss):
                self.policy.optimizer.zero_grad()
                raise ValueError(
                    f"The REINFORCE loss is not finite ({loss.item()}): no parameter was changed. "
                    "Check the observations, rewards and learning rate."
                )
            (weight * loss).backward()
            policy_loss_sum += weight * policy_loss.item()
            entropy_loss_sum += weight * entropy_loss.item()

        # Clip grad norm
        grad_norm = th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
        if not th.isfinite(grad_norm):
            self.policy.optimizer.zero_grad()
            raise ValueError(f"The gradient norm is not finite ({grad_norm.item()}): no parameter was changed.")
        self.policy.optimizer.step()
        if self.fits_value_separately:
            value_loss_sum = self._fit_value()

        self._n_updates += 1
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/n_episodes", self.rollout_buffer.n_episodes)
        self.logger.record("train/n_steps", n_steps)
        self.logger.record("train/policy_loss", policy_loss_sum)
        self.logger.record("train/entropy_loss", entropy_loss_sum)
        self.logger.record("train/grad_norm", grad_norm.item())
        if self.use_baseline:
            self.logger.record("train/value_loss", value_loss_sum)
            self.logger.record("train/explained_variance", self.rollout_buffer.explained_variance)
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())

    def _fit_value(self) -> float:
        """
        Regress V(s) on the batch's Monte Carlo returns (``value_fit="separate"``): ``vf_n_epochs`` passes over
        the used steps in shuffled minibatches of ``vf_batch_size``, one step of the value optimizer each, no
        clipping. It runs after the policy's step, so this batch's advantages came from V fitted on earlier
        batches only. Returns the mean squared error over all minibatches (as PPO logs its value loss).
        """
        assert self.vf_optimizer is not None
        learning_rate = self._schedule_value(self.vf_learning_rate)
        update_learning_rate(self.vf_optimizer, learning_rate)
        self.logger.record("train/vf_learning_rate", learning_rate)
        losses = []
        for _ in range(self.vf_n_epochs):
            for rollout_data in self.rollout_buffer.get(self.vf_batch_size, shuffle=True):
                values = self.policy.values_for_fit(rollout_data.observations)
                value_loss = (rollout_data.weights * (rollout_data.returns - values) ** 2).mean()
                if not th.isfinite(value_loss):
                    self.vf_optimizer.zero_grad()
                    raise ValueError(
                        f"The value loss is not finite ({value_loss.item()}): the value network was left as it was "
                        "before this minibatch. Check the observations, rewards and vf_learning_rate."
                    )
                self.vf_optimizer.zero_grad()
                value_loss.backward()
                self.vf_optimizer.step()
                losses.append(value_loss.item())
        return float(np.mean(losses)) if losses else 0.0

    def _set_importance_weights(self) -> None:
        """Weight every used episode partly played under earlier parameters by its likelihood ratio (logged)."""
        buffer = self.rollout_buffer
        steps, envs = np.nonzero(buffer.used & buffer.played_before[: buffer.pos])
        log_prob = self._log_prob_of(buffer, steps, envs) if len(steps) > 0 else np.zeros(0, dtype=np.float32)
        weights = buffer.set_importance_weights(log_prob)
        if not np.all(np.isfinite(weights)):
            raise ValueError("An importance weight of a carried episode is not finite: no parameter was changed.")
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


def first_non_finite_env(obs: np.ndarray | dict[str, np.ndarray]) -> int | None:
    """The index of the first env whose floating-point observation holds a NaN or inf, or None."""
    for part in obs.values() if isinstance(obs, dict) else [obs]:
        part = np.asarray(part)
        if np.issubdtype(part.dtype, np.floating) and not np.isfinite(part).all():
            return int(np.flatnonzero(~np.isfinite(part.reshape(len(part), -1)).all(axis=1))[0])
    return None


def _is_integer(value: Any) -> bool:
    """An int (Python or NumPy), and not a bool (True would count as 1)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    """A real number (Python or NumPy, int or float), and not a bool (True would count as 1)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _check_rate(name: str, rate: Any) -> None:
    """Raise a ValueError naming ``name`` unless ``rate`` is a schedule or a finite number > 0 (and not a bool)."""
    if not callable(rate) and not (_is_real(rate) and 0 < rate < math.inf):
        raise ValueError(f"{name} must be a finite number > 0 or a schedule, got {rate!r}")


def _check_hyperparameters(
    learning_rate: float | Schedule,
    n_episodes: int,
    gamma: float,
    ent_coef: float,
    vf_coef: float,
    max_grad_norm: float,
    batch_size: int | None,
    episode_length_limit: int = DEFAULT_EPISODE_LENGTH_LIMIT,
    stats_window_size: int = 100,
    flags: dict[str, Any] | None = None,
) -> None:
    """Raise a ValueError naming the first invalid hyperparameter (``flags``: the boolean ones, by name)."""
    _check_rate("learning_rate", learning_rate)
    if not (_is_integer(n_episodes) and n_episodes >= 1):
        raise ValueError(f"n_episodes must be an integer >= 1, got {n_episodes!r}")
    if not (_is_real(gamma) and 0.0 <= gamma <= 1.0):
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    for name, value in (("ent_coef", ent_coef), ("vf_coef", vf_coef)):
        if not (_is_real(value) and 0.0 <= value < math.inf):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not (_is_real(max_grad_norm) and max_grad_norm > 0):
        raise ValueError(f"max_grad_norm must be > 0 (math.inf disables clipping), got {max_grad_norm!r}")
    if batch_size is not None and not (_is_integer(batch_size) and batch_size >= 1):
        raise ValueError(f"batch_size must be an integer >= 1 or None, got {batch_size!r}")
    for name, value in (("episode_length_limit", episode_length_limit), ("stats_window_size", stats_window_size)):
        if not (_is_integer(value) and value >= 1):
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    for name, flag in (flags or {}).items():
        # a string such as "False" from a config file would otherwise count as True
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False, got {flag!r}")


@contextlib.contextmanager
def _without_distribution_validation() -> Iterator[None]:
    """
    Turn off torch's argument validation of distributions for the duration of the block (and only then): while
    collecting, the parameters come from the policy and the actions are the distribution's own samples, so the
    checks cost time (about a tenth of a CartPole rollout) and can fail on nothing.
    """
    previous = th.distributions.Distribution._validate_args
    th.distributions.Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        th.distributions.Distribution.set_default_validate_args(previous)


BASELINES = ("none", "value", "leave_one_out")
VALUE_FITS = ("separate", "joint")


def _check_value_fit(
    baseline: str, value_fit: str | None, vf_learning_rate: float | Schedule, vf_n_epochs: int, vf_batch_size: int
) -> None:
    """Raise a ValueError naming the first invalid argument of the value fit."""
    if value_fit is not None:
        if value_fit not in VALUE_FITS:
            raise ValueError(f"value_fit must be one of {VALUE_FITS} or None, got {value_fit!r}")
        if baseline != "value":
            raise ValueError(
                f"value_fit={value_fit!r} applies to the value baseline only (baseline='value' or use_baseline=True), "
                f"but the baseline is {baseline!r}"
            )
    _check_rate("vf_learning_rate", vf_learning_rate)
    for name, value in (("vf_n_epochs", vf_n_epochs), ("vf_batch_size", vf_batch_size)):
        if not (_is_integer(value) and value >= 1):
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _resolve_baseline(baseline: str | None, use_baseline: bool | None, n_episodes: int) -> str:
    """The baseline from the ``baseline`` and ``use_baseline`` arguments, or a ValueError naming the conflict."""
    if baseline is None:
        if use_baseline is not None:
            # use_baseline keeps its meaning from before the baseline argument: False is no baseline at all
            return "value" if use_baseline else "none"
        # neither given: the default, measured on CartPole-v1 (README, "Default hyperparameters, measured")
        return "leave_one_out" if n_episodes >= 2 else "none"
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES} or None, got {baseline!r}")
    if use_baseline and baseline != "value":
        raise ValueError(f"use_baseline=True means baseline='value', but baseline={baseline!r} was passed as well")
    if use_baseline is False and baseline == "value":
        raise ValueError("use_baseline=False means no learned baseline, but baseline='value' was passed as well")
    return baseline


def _check_a2c_ppo_arguments(kwargs: dict[str, Any]) -> None:
    """
    Reject the A2C/PPO arguments REINFORCE has no use for with a ``ValueError`` saying what it uses instead
    (a value that means the same as REINFORCE, such as ``gae_lambda=1.0``, is accepted); any other unknown
    argument is a ``TypeError``, as for any Python function.
    """
    for name, value in kwargs.items():
        if name not in _A2C_PPO_ARGUMENTS:
            raise TypeError(f"REINFORCE.__init__() got an unexpected keyword argument {name!r}")
        instead, same_as_reinforce = _A2C_PPO_ARGUMENTS[name]
        if same_as_reinforce is not None and value == same_as_reinforce and type(value) is type(same_as_reinforce):
            continue
        raise ValueError(f"REINFORCE does not take {name}={value!r}: {instead}")
