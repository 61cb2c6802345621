"""The Monte Carlo returns math of REINFORCE, as pure functions of NumPy arrays.

All arrays are time-major, shaped ``(n_steps, n_envs)`` as in SB3's ``RolloutBuffer``: row ``t`` holds the
``t``-th step of every env. ``episode_ends[t, e]`` is True when the episode of env ``e`` ended (terminated or
truncated) with step ``t``, i.e. the ``dones`` returned by ``VecEnv.step`` for that step.
"""

import numpy as np


def discounted_returns_to_go(rewards: np.ndarray, episode_ends: np.ndarray, gamma: float) -> np.ndarray:
    """
    Returns-to-go ``G_t = sum_{k=t}^{T} gamma^(k-t) r_k``, where ``T`` is the last step of the episode holding ``t``.

    One backward loop over time handles every env at once. Nothing is bootstrapped: a step that ends an episode
    gets ``G_t = r_t``. Steps after the last episode end of a column belong to an unfinished episode; their
    values are partial sums and callers must not use them (see :func:`first_episodes_mask`).

    :param rewards: shape (n_steps, n_envs)
    :param episode_ends: shape (n_steps, n_envs), True where an episode ends with that step
    :param gamma: discount factor in [0, 1]
    :return: returns-to-go, shape (n_steps, n_envs), float64
    """
    if rewards.shape != episode_ends.shape or rewards.ndim != 2:
        raise ValueError(
            f"rewards and episode_ends must both have shape (n_steps, n_envs), got {rewards.shape} and {episode_ends.shape}"
        )
    returns = np.zeros(rewards.shape, dtype=np.float64)
    # (n_envs,): the return-to-go of the step after t, zeroed where an episode ends at t
    next_return = np.zeros(rewards.shape[1], dtype=np.float64)
    continues = 1.0 - episode_ends.astype(np.float64)
    for step in reversed(range(rewards.shape[0])):
        next_return = rewards[step] + gamma * continues[step] * next_return
        returns[step] = next_return
    return returns


def whole_episode_returns(rewards: np.ndarray, episode_ends: np.ndarray, gamma: float) -> np.ndarray:
    """
    The discounted return of the whole episode, ``R(tau) = sum_k gamma^k r_k`` counted from the episode's first
    step, given to every step of that episode (the estimator of the original policy gradient theorem, before the
    causality argument that gives returns-to-go).

    :param rewards: shape (n_steps, n_envs)
    :param episode_ends: shape (n_steps, n_envs)
    :param gamma: discount factor in [0, 1]
    :return: shape (n_steps, n_envs), float64
    """
    returns_to_go = discounted_returns_to_go(rewards, episode_ends, gamma)
    # (n_steps, n_envs): True on the first step of every episode
    episode_starts = np.ones_like(episode_ends, dtype=bool)
    episode_starts[1:] = episode_ends[:-1]
    episode_return = returns_to_go[0].copy()
    out = np.empty_like(returns_to_go)
    for step in range(returns_to_go.shape[0]):
        episode_return = np.where(episode_starts[step], returns_to_go[step], episode_return)
        out[step] = episode_return
    return out


def first_episodes_mask(episode_ends: np.ndarray, episodes_per_env: int) -> np.ndarray:
    """
    Select the steps of the first ``episodes_per_env`` episodes of every env.

    Each env contributes the same number of whole episodes, so the batch is a set of i.i.d. episodes: keeping
    instead the first N episodes to finish across envs would over-represent short episodes.

    :param episode_ends: shape (n_steps, n_envs); every column must hold at least ``episodes_per_env`` ends
    :param episodes_per_env: number of whole episodes kept per env
    :return: bool mask, shape (n_steps, n_envs)
    """
    finished = episode_ends.sum(axis=0)
    if np.any(finished < episodes_per_env):
        raise ValueError(f"Every env must have finished {episodes_per_env} episode(s); finished per env: {finished.tolist()}")
    return episodes_finished_before(episode_ends) < episodes_per_env


def episodes_finished_before(episode_ends: np.ndarray) -> np.ndarray:
    """
    :param episode_ends: shape (n_steps, n_envs)
    :return: shape (n_steps, n_envs), int64: the number of episodes the env finished before step t, i.e. the index
        (from 0) of the episode that step t belongs to
    """
    ends = episode_ends.astype(np.int64)
    return np.cumsum(ends, axis=0) - ends


def _padded_episodes(
    returns: np.ndarray, episode_ends: np.ndarray, used: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """
    The used steps' returns laid out by episode and position in the episode.

    :return: ``steps`` and ``envs`` of the used steps (column by column), ``episode`` and ``position`` of each
        (shape (n_used,)), and ``padded`` (N, T_max): the returns of each episode by position, 0 after its end
    """
    # (n_used,) each, column by column: the steps of an episode are consecutive
    envs, steps = np.nonzero(used.T)
    n_episodes = int((episode_ends & used).sum())
    ends = episode_ends[steps, envs]
    # (n_used,): episode of each step, and its index t within the episode
    episode = np.cumsum(ends) - ends
    starts = np.flatnonzero(np.r_[True, ends[:-1]])
    position = np.arange(len(steps)) - starts[episode]
    padded = np.zeros((n_episodes, int(position.max(initial=-1)) + 1), dtype=np.float64)
    padded[episode, position] = returns[steps, envs]
    return steps, envs, episode, position, padded


def leave_one_out_baseline(returns: np.ndarray, episode_ends: np.ndarray, used: np.ndarray) -> np.ndarray:
    """
    Leave-one-out baseline (Kool, van Hoof and Welling, 2019): step ``t`` of episode ``i`` gets the mean, over the
    batch's other episodes ``j``, of their return at the same step ``t`` of their own episode, counted as 0 where
    episode ``j`` has already ended (its return-to-go there is 0):

        b_i(t) = sum_{j != i} G_j(t) / (N - 1)

    It depends only on the other episodes, which are independent of episode ``i``, so ``G_i(t) - b_i(t)`` weights
    ``grad log pi(a_t|s_t)`` without bias; no value network is needed. Episodes are the used steps of each column,
    in order, each ending with an episode end.

    :param returns: shape (n_steps, n_envs): the returns ``G`` of every step (returns-to-go, or whole-episode ones)
    :param episode_ends: shape (n_steps, n_envs)
    :param used: shape (n_steps, n_envs): the steps of the batch's episodes
    :return: shape (n_steps, n_envs), the baseline of every used step (0 elsewhere), float64
    :raises ValueError: with fewer than two episodes
    """
    n_episodes = int((episode_ends & used).sum())
    if n_episodes < 2:
        raise ValueError(f"The leave-one-out baseline needs at least 2 episodes per batch, got {n_episodes}")
    steps, envs, episode, position, padded = _padded_episodes(returns, episode_ends, used)
    totals = padded.sum(axis=0)
    baseline = np.zeros(returns.shape, dtype=np.float64)
    baseline[steps, envs] = (totals[position] - padded[episode, position]) / (n_episodes - 1)
    return baseline


def group_leave_one_out_baseline(
    returns: np.ndarray, episode_ends: np.ndarray, used: np.ndarray, groups: np.ndarray
) -> np.ndarray:
    """
    :func:`leave_one_out_baseline` within each group: step ``t`` of episode ``i`` gets the mean return at step
    ``t`` of the other episodes of its group (RLOO; Kool et al. 2019, Ahmadian et al. 2024).

    :param returns: shape (n_steps, n_envs)
    :param episode_ends: shape (n_steps, n_envs)
    :param used: shape (n_steps, n_envs)
    :param groups: shape (n_steps, n_envs), int: the group of every step (the same along an episode)
    :return: shape (n_steps, n_envs), float64 (0 on unused steps)
    :raises ValueError: when a group holds fewer than two episodes
    """
    baseline = np.zeros(returns.shape, dtype=np.float64)
    for group in np.unique(groups[used]):
        in_group = used & (groups == group)
        baseline[in_group] = leave_one_out_baseline(returns, episode_ends, in_group)[in_group]
    return baseline


def group_std(returns: np.ndarray, episode_ends: np.ndarray, used: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """
    The standard deviation, over the episodes of each group, of their return at the same step ``t`` (0 after an
    episode's end): GRPO's scale (Shao et al. 2024), per step.

    :param returns: shape (n_steps, n_envs)
    :param episode_ends: shape (n_steps, n_envs)
    :param used: shape (n_steps, n_envs)
    :param groups: shape (n_steps, n_envs), int
    :return: shape (n_steps, n_envs), float64 (0 on unused steps)
    """
    scale = np.zeros(returns.shape, dtype=np.float64)
    for group in np.unique(groups[used]):
        in_group = used & (groups == group)
        steps, envs, _, position, padded = _padded_episodes(returns, episode_ends, in_group)
        scale[steps, envs] = padded.std(axis=0)[position]
    return scale


def normalize(values: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """
    Standardise to zero mean and unit variance. A single value is returned unchanged: its standard deviation is
    undefined, and centring it would zero the policy gradient.

    :param values: 1-D array
    :param eps: added to the standard deviation
    """
    if values.size < 2:
        return values
    return (values - values.mean()) / (values.std() + eps)
