"""Types shared by the algorithm's parts (as SB3's ``common/type_aliases.py``): they import this module, not each other."""

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch as th
from stable_baselines3.common.type_aliases import TensorDict


class EpisodicRolloutBufferSamples(NamedTuple):
    observations: th.Tensor | TensorDict
    actions: th.Tensor
    returns: th.Tensor
    advantages: th.Tensor
    weights: th.Tensor
    action_masks: th.Tensor | None = None  # (batch, mask_dim), True for the valid actions; None without masking


#: ``log pi(a|s)`` under the current parameters of the buffer's steps ``(steps, envs)``
LogProbFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: A baseline's advantages ``A_t``, (n_steps, n_envs), from the rollout's returns, episode ends, used steps and stored
#: values, each (n_steps, n_envs), and the group of every step of a grouped rollout (None otherwise)
AdvantageFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]


class RolloutBatches(Protocol):
    """What a baseline reads of the rollout buffer: the batch in minibatches, and how well V explained its returns."""

    explained_variance: float

    def get(self, batch_size: int | None = None, shuffle: bool = False) -> Iterator[Any]: ...
