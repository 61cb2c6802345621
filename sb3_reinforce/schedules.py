"""Learning rate schedules of REINFORCE."""

from collections.abc import Callable


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
# default budget), tuned on CartPole-v1
DEFAULT_LEARNING_RATE = StepsLinearSchedule(5e-3, 1e-4, 100_000)


def schedule_value(schedule: float | Callable[[float], float], num_timesteps: int, progress_remaining: float) -> float:
    """
    A learning rate now: a :class:`StepsLinearSchedule` at ``num_timesteps``, any other schedule at
    ``progress_remaining``, a number as it is.

    :param schedule: A number, a function of the progress remaining (SB3's schedules), or a
        :class:`StepsLinearSchedule`
    :param num_timesteps: The model's env steps at the start of the rollout being trained on
    :param progress_remaining: SB3's progress remaining (from 1 to 0) at that point
    """
    if isinstance(schedule, StepsLinearSchedule):
        return schedule.value_at(num_timesteps)
    if callable(schedule):
        return float(schedule(progress_remaining))
    return float(schedule)
