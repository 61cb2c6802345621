"""Diagnostics of the policy-gradient estimate: how noisy each REINFORCE estimator is at given parameters.

:func:`gradient_statistics` samples independent batches of whole episodes with a model's current policy and
computes, on every batch, the policy-gradient estimate under several choices of the weight ``A_t`` of
``grad log pi(a_t|s_t)``. Comparing the spread of these estimates measures the variance-reduction claims of
the policy-gradient literature (returns-to-go, baselines, normalisation) at one point of a training run.
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.utils import explained_variance
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from torch import nn

from sb3_reinforce.buffers import EpisodicRolloutBuffer
from sb3_reinforce.groups import GroupedEpisodicRolloutBuffer
from sb3_reinforce.masking import is_maskable
from sb3_reinforce.policies import REINFORCEPolicy
from sb3_reinforce.reinforce import REINFORCE
from sb3_reinforce.returns import (
    discounted_returns_to_go,
    group_leave_one_out_baseline,
    group_std,
    leave_one_out_baseline,
    normalize,
    whole_episode_returns,
)
from sb3_reinforce.sampling import play_episodes

#: Every estimator :func:`gradient_statistics` knows, in the order of the lecture: the weight ``A_t`` of
#: ``grad log pi(a_t|s_t)`` is
#:
#: - ``"return"``: the discounted return of the whole episode ``R(tau)`` (before the causality argument),
#: - ``"reward_to_go"``: the return-to-go ``G_t``,
#: - ``"batch_baseline"``: ``G_t`` minus its mean over the batch's steps,
#: - ``"normalized"``: ``G_t`` standardised over the batch's steps (mean 0, std 1),
#: - ``"value_baseline"``: ``G_t - V(s_t)`` with ``V`` a value network fitted beforehand on separate rollouts,
#: - ``"leave_one_out"``: ``G_t`` minus the mean return of the batch's other episodes at the same step
#:   (:func:`~sb3_reinforce.returns.leave_one_out_baseline`).
ESTIMATORS = ("return", "reward_to_go", "batch_baseline", "normalized", "value_baseline", "leave_one_out")

#: The estimators of grouped batches (``group_size > 1``), whose episodes start in groups from one reset seed:
#:
#: - ``"group_leave_one_out"``: ``G_t`` minus the mean return at step ``t`` of the other episodes of the group
#:   (RLOO; :func:`~sb3_reinforce.returns.group_leave_one_out_baseline`),
#: - ``"group_std_scaled"``: the same divided by the group's standard deviation of those returns (GRPO's scaling,
#:   :func:`~sb3_reinforce.returns.group_std`), which reweights the groups and so changes the expected direction.
GROUP_ESTIMATORS = ("group_leave_one_out", "group_std_scaled")

# Module names of the value-function parts of a REINFORCEPolicy: their parameters are not policy parameters.
_VALUE_MODULES = ("value_net.", "mlp_extractor.value_net.", "vf_features_extractor.")


@dataclass
class EstimatorStatistics:
    """
    Statistics of one estimator over ``K`` independent batches (``gradients`` has shape ``(K, n_params)``).

    :param variance: Trace of the covariance of the per-batch estimate, ``sum_k ||g_k - mean||^2 / (K - 1)``
        (the expected squared distance of one batch's estimate to the mean estimate)
    :param cosine_similarity: Mean over batches of ``cos(g_k, reference_gradient)``: how well one batch points
        in the direction of the high-sample reference gradient (scale-free, comparable across estimators)
    :param snr: Signal-to-noise ratio ``||mean|| / sqrt(variance)``: the norm of the mean estimate over the
        root-mean-square norm of one batch's noise (scale-free; slightly biased upwards for small ``K``, as
        ``||mean||^2`` contains ``variance / K`` of noise)
    :param mean_cosine_similarity: ``cos(mean, reference_gradient)``: the direction of the mean estimate
        (close to 1 for an unbiased estimator when ``K`` and the reference are large)
    :param mean_gradient: Mean of the per-batch estimates, shape ``(n_params,)``
    :param gradients: Every per-batch estimate, shape ``(K, n_params)``
    """

    variance: float
    cosine_similarity: float
    snr: float
    mean_cosine_similarity: float
    mean_gradient: np.ndarray
    gradients: np.ndarray = field(repr=False)

    def summary(self) -> dict[str, float]:
        """The scalar statistics (no arrays), e.g. for a JSON file or a table."""
        return {
            "variance": self.variance,
            "cosine_similarity": self.cosine_similarity,
            "snr": self.snr,
            "mean_cosine_similarity": self.mean_cosine_similarity,
            "mean_gradient_norm": float(np.linalg.norm(self.mean_gradient)),
        }


@dataclass
class GradientStatistics:
    """
    Result of :func:`gradient_statistics`.

    :param estimators: The statistics of every requested estimator, by name
    :param reference_gradient: The high-sample reference gradient, shape ``(n_params,)`` (NaN without
        reference batches)
    :param n_episodes: Episodes per batch
    :param mean_episode_return: Mean undiscounted return of the episodes of the ``K`` batches
    :param mean_episode_length: Mean length of those episodes
    :param value_explained_variance: Explained variance of the fitted ``V(s)`` on the returns-to-go of the
        ``K`` batches, which it was not fitted on (NaN when no value network was fitted)
    """

    estimators: dict[str, EstimatorStatistics]
    reference_gradient: np.ndarray
    n_episodes: int
    mean_episode_return: float
    mean_episode_length: float
    value_explained_variance: float

    def __getitem__(self, name: str) -> EstimatorStatistics:
        return self.estimators[name]

    def summary(self) -> dict[str, Any]:
        """The scalar statistics of every estimator and of the batches (no arrays)."""
        return {
            "n_episodes": self.n_episodes,
            "mean_episode_return": self.mean_episode_return,
            "mean_episode_length": self.mean_episode_length,
            "value_explained_variance": self.value_explained_variance,
            "estimators": {name: stats.summary() for name, stats in self.estimators.items()},
        }


@dataclass
class _Batch:
    """The used steps of one rollout, flattened in the buffer's row-major order."""

    observations: th.Tensor | dict[str, th.Tensor]
    actions: th.Tensor
    returns_to_go: np.ndarray  # (n_used,), float64
    episode_returns: np.ndarray  # (n_used,), R(tau) of the step's episode, float64
    undiscounted_returns: np.ndarray  # (n_episodes,)
    n_episodes: int
    leave_one_out: np.ndarray  # (n_used,), the leave-one-out baseline of the returns-to-go, float64
    group_leave_one_out: np.ndarray | None = None  # (n_used,), within the step's group (grouped batches only)
    group_scale: np.ndarray | None = None  # (n_used,), the group's std of the returns-to-go (grouped batches only)


def policy_parameters(model: REINFORCE) -> list[nn.Parameter]:
    """
    The parameters of ``model``'s policy that the log-likelihood depends on: every parameter of the policy but
    those of its value network, in ``named_parameters`` order (the order of the flattened gradients).
    """
    return [param for name, param in model.policy.named_parameters() if not name.startswith(_VALUE_MODULES)]


def gradient_statistics(
    model: REINFORCE,
    n_batches: int = 32,
    estimators: Sequence[str] = ESTIMATORS,
    n_episodes: int | None = None,
    n_reference_batches: int = 64,
    reference_estimator: str = "reward_to_go",
    env: VecEnv | str | None = None,
    n_value_batches: int = 16,
    value_fit_steps: int = 500,
    seed: int | None = None,
    group_size: int = 1,
) -> GradientStatistics:
    """
    Sample ``n_batches`` independent batches of ``n_episodes`` whole episodes with the model's current policy and
    compute, on each, the policy-gradient estimate under each estimator of :data:`ESTIMATORS`.

    **The estimate.** On a batch of ``N`` episodes, the estimate is the textbook
    ``g = (1/N) sum_episodes sum_t A_t grad log pi(a_t|s_t)``, flattened over the policy's parameters
    (:func:`policy_parameters`: the value network, if any, is left out). It is an unbiased estimate of
    ``grad J`` for ``A_t = R(tau)``, ``G_t`` and ``G_t - V(s_t)`` with a ``V`` fixed before the batch is
    drawn, as long as the actions' noises are independent given the states: with gSDE, only for
    ``sde_sample_freq=1`` (a matrix shared by several steps correlates their noises, and the estimate, which
    scores each action by its own Gaussian, is biased in direction). The batch-mean baseline is estimated from
    the batch itself and is slightly biased (on one-step episodes its mean is exactly ``(1 - 1/N) grad J``);
    normalisation also rescales the estimate by a random factor, so only its direction is comparable (its
    ``variance`` is on another scale: compare ``snr`` and ``cosine_similarity``). REINFORCE's own loss is this
    estimate times ``N / N_steps`` (see :class:`REINFORCE`).

    **The reference gradient** is the mean of ``reference_estimator`` over ``n_reference_batches`` further
    batches, independent of the ``K`` batches. The **learned baseline** is a fresh value network (a new
    features extractor of the policy's class, then two tanh layers of 64 units) fitted by Adam to the
    returns-to-go of ``n_value_batches`` further batches, with targets standardised. The model's own policy and
    value network are never changed.

    **Side effects.** None on the model: its parameters, ``num_timesteps``, ``_last_obs``, episode-info
    buffers, logger, training mode, ``n_episodes`` and the global torch random state are what they were. The
    batches are played in a separate env: ``env`` (a ``VecEnv`` with the model's spaces, or an env id given to
    ``make_vec_env``) or, by default, a new copy of the model's env built from its spec.

    :param model: A REINFORCE model (its ``gamma`` and ``bootstrap_truncated`` are used)
    :param n_batches: Number ``K >= 2`` of independent batches the statistics are measured on
    :param estimators: Names of the estimators to compare, among :data:`ESTIMATORS`
    :param n_episodes: Episodes per batch (default: the model's ``n_episodes``), rounded up to a multiple of the
        number of envs of the diagnostic env
    :param n_reference_batches: Number of batches averaged into the reference gradient (0: no reference, the
        cosine similarities are NaN)
    :param reference_estimator: Estimator of the reference gradient; it should be unbiased
    :param env: Env the batches are played in (default: a copy of the model's env)
    :param n_value_batches: Number of batches the learned baseline is fitted on
    :param value_fit_steps: Adam steps of the value fit (minibatches of 4096 steps)
    :param seed: Seed of the diagnostic env, of the groups' reset seeds and of torch's random generator inside the
        call
    :param group_size: Play every batch in groups of ``group_size`` episodes that start from one reset seed (as
        ``REINFORCE(group_size=...)`` does), which adds :data:`GROUP_ESTIMATORS` to the default estimators; all
        estimators are then measured on the same grouped batches
    :return: The statistics of every estimator
    """
    estimators = tuple(estimators)
    known = ESTIMATORS + (GROUP_ESTIMATORS if group_size > 1 else ())
    if group_size > 1 and estimators == ESTIMATORS:
        estimators = known
    for name in (*estimators, reference_estimator):
        if name not in known:
            hint = " (the group estimators need group_size > 1)" if name in GROUP_ESTIMATORS else ""
            raise ValueError(f"Unknown estimator {name!r}: choose among {known}{hint}")
    if n_batches < 2:
        raise ValueError(f"n_batches must be >= 2 to measure a variance, got {n_batches}")
    if n_reference_batches < 0 or n_value_batches < 1:
        raise ValueError(
            f"n_reference_batches must be >= 0 and n_value_batches >= 1, got {n_reference_batches} and {n_value_batches}"
        )
    if is_maskable(model.policy):
        raise ValueError("gradient_statistics does not measure models with action masking: their log-likelihoods need masks")
    if not isinstance(model.policy, REINFORCEPolicy):
        raise ValueError(
            f"gradient_statistics measures feed-forward REINFORCE policies, got {type(model.policy).__name__}: a "
            "recurrent policy's log-likelihoods need its episodes as sequences"
        )
    diagnostic_env = _make_diagnostic_env(model, env, seed)
    n_episodes = model.n_episodes if n_episodes is None else n_episodes
    episodes_per_env = -(-n_episodes // diagnostic_env.num_envs)
    if group_size > 1 and (episodes_per_env * diagnostic_env.num_envs) % group_size != 0:
        raise ValueError(
            f"group_size={group_size} must divide the episodes per batch ({episodes_per_env * diagnostic_env.num_envs})"
        )
    buffer = _diagnostic_buffer(model, diagnostic_env, group_size, episodes_per_env * diagnostic_env.num_envs, seed)
    if episodes_per_env * diagnostic_env.num_envs < 2 and "leave_one_out" in (*estimators, reference_estimator):
        if reference_estimator == "leave_one_out" or tuple(estimators) != ESTIMATORS:
            raise ValueError("The leave_one_out estimator needs at least 2 episodes per batch")
        estimators = tuple(name for name in estimators if name != "leave_one_out")  # the default set, 1 episode
    params = policy_parameters(model)

    # fork the generator of the model's device too (on CUDA, sampling actions draws from the CUDA generator)
    rng_devices = []
    if model.device.type == "cuda":
        rng_devices = [model.device.index if model.device.index is not None else th.cuda.current_device()]
    with th.random.fork_rng(devices=rng_devices):
        if seed is not None:
            th.manual_seed(seed)

        def play() -> _Batch:
            return _collect_batch(model, diagnostic_env, buffer, episodes_per_env)

        value_fn = None
        if "value_baseline" in (*estimators, reference_estimator):
            value_fn = _fit_value_function(model, [play() for _ in range(n_value_batches)], value_fit_steps)

        values_seen, returns_seen = [], []
        gradients: dict[str, list[np.ndarray]] = {name: [] for name in estimators}
        episode_returns, episode_lengths = [], []
        for _ in range(n_batches):
            batch = play()
            values = value_fn(batch.observations) if value_fn is not None else None
            if values is not None:
                values_seen.append(values)
                returns_seen.append(batch.returns_to_go)
            weights = {name: _weights(name, batch, values) for name in estimators}
            for name, grad in _batch_gradients(model, params, batch, weights).items():
                gradients[name].append(grad)
            episode_returns.append(batch.undiscounted_returns)
            episode_lengths.append(len(batch.actions) / batch.n_episodes)

        reference_sum = np.zeros(sum(param.numel() for param in params))
        for _ in range(n_reference_batches):
            batch = play()
            values = value_fn(batch.observations) if value_fn is not None else None
            weights = {reference_estimator: _weights(reference_estimator, batch, values)}
            reference_sum += _batch_gradients(model, params, batch, weights)[reference_estimator]
        reference = reference_sum / n_reference_batches if n_reference_batches > 0 else reference_sum * np.nan

    if env is None:
        diagnostic_env.close()
    return GradientStatistics(
        estimators={name: _statistics(np.stack(grads), reference) for name, grads in gradients.items()},
        reference_gradient=reference,
        n_episodes=episodes_per_env * diagnostic_env.num_envs,
        mean_episode_return=float(np.concatenate(episode_returns).mean()),
        mean_episode_length=float(np.mean(episode_lengths)),
        value_explained_variance=(
            float(explained_variance(np.concatenate(values_seen), np.concatenate(returns_seen)))
            if values_seen
            else float("nan")
        ),
    )


def _make_diagnostic_env(model: REINFORCE, env: VecEnv | str | None, seed: int | None) -> VecEnv:
    if isinstance(env, str):
        env = make_vec_env(env, n_envs=model.n_envs, seed=seed)
    elif env is None:
        model_env = model.get_env()
        if model_env is None or isinstance(model_env, VecEnvWrapper):
            raise ValueError(
                "gradient_statistics cannot copy the model's env (it has none, or it is wrapped in a VecEnvWrapper "
                "such as VecNormalize or VecFrameStack): pass env=, a VecEnv with the same wrappers"
            )
        spec = model_env.get_attr("spec")[0]
        if spec is None:
            raise ValueError("The model's env has no spec to copy it from: pass env=, a VecEnv like the model's")
        # make_vec_env adds its own Monitor, which gymnasium cannot recreate from the spec
        wrappers = tuple(w for w in spec.additional_wrappers if "stable_baselines3.common.monitor" not in w.entry_point)
        spec = dataclasses.replace(spec, additional_wrappers=wrappers)
        env = make_vec_env(lambda: gym.make(spec), n_envs=model.n_envs, seed=seed)
    elif seed is not None:
        env.seed(seed)
    if env.observation_space != model.observation_space or env.action_space != model.action_space:
        raise ValueError(
            f"The diagnostic env's spaces ({env.observation_space}, {env.action_space}) differ from the model's "
            f"({model.observation_space}, {model.action_space})"
        )
    return env


def _diagnostic_buffer(
    model: REINFORCE, env: VecEnv, group_size: int, n_episodes: int, seed: int | None
) -> EpisodicRolloutBuffer:
    """A buffer for the diagnostic batches: grouped when ``group_size > 1`` (its seeds drawn from ``seed``)."""
    kwargs: dict[str, Any] = dict(device=model.device, gamma=model.gamma, n_envs=env.num_envs)
    if group_size > 1:
        kwargs.update(group_size=group_size, episodes_per_rollout=n_episodes, seed=seed)
        return GroupedEpisodicRolloutBuffer(256, model.observation_space, model.action_space, **kwargs)
    return EpisodicRolloutBuffer(256, model.observation_space, model.action_space, **kwargs)


def _collect_batch(model: REINFORCE, env: VecEnv, buffer: EpisodicRolloutBuffer, episodes_per_env: int) -> _Batch:
    """Play one batch of whole episodes from a reset of ``env`` with the model's policy into ``buffer``."""
    gamma_bootstrap = model.gamma if model.bootstrap_truncated else None
    play_episodes(model.policy, env, buffer, episodes_per_env, gamma_bootstrap, model.sde_sample_freq)
    buffer.compute_returns_and_advantage(episodes_per_env=episodes_per_env)
    rewards = buffer.rewards[: buffer.pos]
    episode_ends = buffer.episode_ends[: buffer.pos]
    used = buffer.used
    samples = next(buffer.get(None))
    actions = samples.actions
    if isinstance(model.action_space, spaces.Discrete):
        actions = actions.long().flatten()
    # boolean indexing of a (n_steps, n_envs) array is row-major: the order of buffer.get
    # an invalid step (the unused steps before a grouped wave) bounds an episode as its end does
    bounds = episode_ends | ~buffer._valid()
    undiscounted = whole_episode_returns(rewards, bounds, 1.0)[episode_ends & used]
    returns_to_go = discounted_returns_to_go(rewards, bounds, model.gamma)
    groups = buffer._groups()
    return _Batch(
        observations=samples.observations,
        actions=actions,
        returns_to_go=returns_to_go[used],
        # undefined for a batch of one episode (NaN): gradient_statistics leaves the estimator out then
        leave_one_out=(
            leave_one_out_baseline(returns_to_go, episode_ends, used)[used]
            if buffer.n_episodes >= 2
            else np.full(int(used.sum()), np.nan)
        ),
        episode_returns=whole_episode_returns(rewards, bounds, model.gamma)[used],
        undiscounted_returns=undiscounted,
        n_episodes=buffer.n_episodes,
        group_leave_one_out=None
        if groups is None
        else group_leave_one_out_baseline(returns_to_go, episode_ends, used, groups)[used],
        group_scale=None if groups is None else group_std(returns_to_go, episode_ends, used, groups)[used],
    )


def _weights(name: str, batch: _Batch, values: np.ndarray | None) -> np.ndarray:
    """The weight ``A_t`` of every used step of ``batch`` under estimator ``name``, shape (n_used,)."""
    if name == "return":
        return batch.episode_returns
    if name == "reward_to_go":
        return batch.returns_to_go
    if name == "batch_baseline":
        return batch.returns_to_go - batch.returns_to_go.mean()
    if name == "normalized":
        return normalize(batch.returns_to_go)
    if name == "leave_one_out":
        return batch.returns_to_go - batch.leave_one_out
    if name in GROUP_ESTIMATORS:
        assert batch.group_leave_one_out is not None and batch.group_scale is not None
        advantages = batch.returns_to_go - batch.group_leave_one_out
        return advantages / (batch.group_scale + 1e-8) if name == "group_std_scaled" else advantages
    assert values is not None
    return batch.returns_to_go - values


def _batch_gradients(
    model: REINFORCE, params: list[nn.Parameter], batch: _Batch, weights: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """One forward pass, then one backward per estimator: ``(1/N) sum_t A_t grad log pi(a_t|s_t)``, flattened."""
    _, log_prob, _ = model.policy.evaluate_actions(batch.observations, batch.actions)  # (n_used,)
    gradients = {}
    for i, (name, weight) in enumerate(weights.items()):
        weight_tensor = th.as_tensor(weight, dtype=log_prob.dtype, device=log_prob.device)
        surrogate = (weight_tensor * log_prob).sum() / batch.n_episodes
        grads = th.autograd.grad(surrogate, params, retain_graph=i < len(weights) - 1, allow_unused=True)
        flat = th.cat([(th.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params, strict=True)])
        gradients[name] = flat.double().cpu().numpy()
    return gradients


def _statistics(gradients: np.ndarray, reference: np.ndarray) -> EstimatorStatistics:
    """Statistics of the per-batch estimates ``gradients`` (K, n_params) against ``reference`` (n_params,)."""
    mean = gradients.mean(axis=0)
    variance = float(((gradients - mean) ** 2).sum() / (len(gradients) - 1))
    reference_norm = np.linalg.norm(reference)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosines = gradients @ reference / (np.linalg.norm(gradients, axis=1) * reference_norm)
        mean_cosine = float(mean @ reference / (np.linalg.norm(mean) * reference_norm))
        snr = float(np.linalg.norm(mean) / np.sqrt(variance))
    return EstimatorStatistics(
        variance=variance,
        cosine_similarity=float(np.mean(cosines)),
        snr=snr,
        mean_cosine_similarity=mean_cosine,
        mean_gradient=mean,
        gradients=gradients,
    )


class _ValueFunction(nn.Module):
    def __init__(self, model: REINFORCE):
        super().__init__()
        self.policy = [model.policy]  # in a list: not a submodule, so its parameters are not trained here
        self.features_extractor = model.policy.make_features_extractor()
        self.head = nn.Sequential(
            nn.Linear(self.features_extractor.features_dim, 64),
            nn.Tanh(),
            nn.Linear(64, 64),
            nn.Tanh(),
            nn.Linear(64, 1),
        )

    def forward(self, obs: th.Tensor | dict[str, th.Tensor]) -> th.Tensor:
        features = self.policy[0].extract_features(obs, self.features_extractor)
        return self.head(features).flatten()


def _fit_value_function(model: REINFORCE, batches: list[_Batch], steps: int, minibatch_size: int = 4096):
    """Fit a fresh V(s) to the returns-to-go of ``batches`` by MSE on standardised targets; return V as a callable."""
    value_fn = _ValueFunction(model).to(model.device)
    obs = _cat_obs([batch.observations for batch in batches])
    targets = np.concatenate([batch.returns_to_go for batch in batches])
    mean, std = float(targets.mean()), float(targets.std()) + 1e-8
    target_tensor = th.as_tensor((targets - mean) / std, dtype=th.float32, device=model.device)
    optimizer = th.optim.Adam(value_fn.parameters(), lr=1e-3)
    for _ in range(steps):
        indices = th.randint(len(targets), (min(minibatch_size, len(targets)),), device=model.device)
        loss = nn.functional.mse_loss(value_fn(_index_obs(obs, indices)), target_tensor[indices])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    value_fn.eval()

    def predict(observations: th.Tensor | dict[str, th.Tensor]) -> np.ndarray:
        with th.no_grad():
            return value_fn(observations).double().cpu().numpy() * std + mean

    return predict


def _cat_obs(observations: list[th.Tensor | dict[str, th.Tensor]]) -> th.Tensor | dict[str, th.Tensor]:
    # every item is of the first one's kind: the observations of one model
    first = observations[0]
    if isinstance(first, dict):
        dicts = [obs for obs in observations if isinstance(obs, dict)]
        return {key: th.cat([obs[key] for obs in dicts]) for key in first}
    return th.cat([obs for obs in observations if isinstance(obs, th.Tensor)])


def _index_obs(observations: th.Tensor | dict[str, th.Tensor], indices: th.Tensor) -> th.Tensor | dict[str, th.Tensor]:
    if isinstance(observations, dict):
        return {key: obs[indices] for key, obs in observations.items()}
    return observations[indices]
