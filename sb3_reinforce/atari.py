"""
Atari Pong in the style of Karpathy's "Deep Reinforcement Learning: Pong from Pixels" (2016).

Blog post: https://karpathy.github.io/2016/05/31/rl/

The wrappers below compose into the chain Karpathy's ``pg-pong.py`` builds by hand:

- :class:`FrameSkip`: repeat each action for ``skip`` emulator frames (``PongNoFrameskip-v4`` only;
  ``ALE/Pong-v5`` already skips 4 frames inside the emulator);
- :class:`KarpathyPreprocessing`: crop, downsample by 2, erase the background, binarise: an 80x80 frame of 0/1;
- :class:`DifferenceFrames`: the observation is the current minus the previous preprocessed frame (-1/0/1 in
  ``int8``, zeros on the first step of a game), so a single frame shows the motion;
- :class:`BinaryPongActions`: a ``MultiBinary(1)`` action space, so SB3 builds a Bernoulli head (``P(UP)``);
- :class:`PerPointEpisodes`: every point (reward != 0) ends an episode, as Karpathy's reset of the discounted
  sum at every point does, while the game itself continues.

:class:`KarpathyPong` composes them for rl-zoo3's ``env_wrapper`` and :func:`make_pong_env` builds the
vectorised env for plain Python.
"""

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import FlattenObservation
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

try:  # registers the ALE/... and ...NoFrameskip-v4 ids, also in SubprocVecEnv workers that import this module
    import ale_py

    gym.register_envs(ale_py)
except ImportError:  # pragma: no cover - ale-py is an optional dependency (pip install sb3-reinforce[atari])
    ale_py = None  # type: ignore[assignment]

# Red channel values of Pong's background (Karpathy's "erase background (background type 1 / 2)")
PONG_BACKGROUND_COLOURS = (144, 109)
# ALE actions of Pong's minimal action set: ['NOOP', 'FIRE', 'RIGHT', 'LEFT', 'RIGHTFIRE', 'LEFTFIRE']
PONG_UP = 2  # RIGHT moves the agent's (right, green) paddle up
PONG_DOWN = 3  # LEFT moves it down


class FrameSkip(gym.Wrapper):
    """
    Repeat every action for ``skip`` emulator frames, sum the rewards and return the last frame.

    Unlike SB3's ``MaxAndSkipEnv`` there is no max-pooling over the last two frames: Pong does not flicker,
    and a max over the red channel would let the background (144) overwrite the agent's paddle (92) wherever
    the paddle moved between the two frames, so the preprocessing would erase it.

    :param env: Environment to wrap (an ALE env without frame skip, e.g. ``PongNoFrameskip-v4``)
    :param skip: Number of emulator frames per agent step
    """

    def __init__(self, env: gym.Env, skip: int = 4):
        if skip < 1:
            raise ValueError(f"skip must be >= 1, got {skip}")
        super().__init__(env)
        self.skip = skip

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        total_reward = 0.0
        for _ in range(self.skip):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total_reward += float(reward)
            if terminated or truncated:
                break
        return obs, total_reward, terminated, truncated, info


def preprocess_pong_frame(frame: np.ndarray) -> np.ndarray:
    """
    Karpathy's ``prepro``: crop rows 35..195 (the playing field), keep every second row and column of the red
    channel, erase the two background colours and set everything else (paddles, ball) to 1.

    :param frame: RGB frame, shape (210, 160, 3), uint8
    :return: Binary frame, shape (80, 80), uint8
    """
    if frame.shape != (210, 160, 3):
        raise ValueError(f"Expected an RGB Atari frame of shape (210, 160, 3), got {frame.shape}")
    red = frame[35:195:2, ::2, 0]  # (80, 80)
    return ((red != PONG_BACKGROUND_COLOURS[0]) & (red != PONG_BACKGROUND_COLOURS[1])).astype(np.uint8)


class KarpathyPreprocessing(gym.ObservationWrapper):
    """
    Observation wrapper applying :func:`preprocess_pong_frame`: RGB (210, 160, 3) -> binary (80, 80) uint8.

    :param env: Environment with RGB observations (ALE ``obs_type="rgb"``, the default)
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.observation_space = spaces.Box(low=0, high=1, shape=(80, 80), dtype=np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return preprocess_pong_frame(observation)


class DifferenceFrames(gym.Wrapper):
    """
    The observation is the current frame minus the previous one (``int8``, values -1, 0 or 1 for binary
    frames), and all zeros on the first step after ``reset()``, as in Karpathy's
    ``x = cur_x - prev_x if prev_x is not None else np.zeros(D)``.

    :param env: Environment with binary uint8 observations (e.g. :class:`KarpathyPreprocessing`)
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Box) or space.dtype != np.uint8 or np.any(space.high > 1):
            raise ValueError(f"DifferenceFrames needs a binary uint8 Box observation space (0/1), got {space}")
        self.observation_space = spaces.Box(low=-1, high=1, shape=space.shape, dtype=np.int8)
        self._previous: np.ndarray | None = None

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        frame, info = self.env.reset(**kwargs)
        self._previous = frame
        return np.zeros_like(frame, dtype=np.int8), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        frame, reward, terminated, truncated, info = self.env.step(action)
        assert self._previous is not None, "Call reset() before step()"
        difference = frame.astype(np.int8) - self._previous.astype(np.int8)
        self._previous = frame
        return difference, reward, terminated, truncated, info


class BinaryPongActions(gym.ActionWrapper):
    """
    A ``MultiBinary(1)`` action space, for which SB3 builds a Bernoulli distribution whose parameter is
    ``P(UP)``: action 1 -> UP (ALE action 2, ``RIGHT``), action 0 -> DOWN (ALE action 3, ``LEFT``).

    :param env: Pong env with the minimal action set (6 actions)
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        meanings = env.unwrapped.get_action_meanings() if hasattr(env.unwrapped, "get_action_meanings") else None
        if meanings is not None and (meanings[PONG_UP], meanings[PONG_DOWN]) != ("RIGHT", "LEFT"):
            raise ValueError(f"Expected Pong's minimal action set (2: RIGHT, 3: LEFT), got {meanings}")
        self.action_space = spaces.MultiBinary(1)

    def action(self, action: Any) -> int:
        return PONG_UP if float(np.asarray(action).reshape(-1)[0]) > 0.5 else PONG_DOWN


class PerPointEpisodes(gym.Wrapper):
    """
    End an episode at every point (a step with reward != 0) while the game goes on, the way SB3's
    ``EpisodicLifeEnv`` ends one at every lost life: Karpathy resets the discounted return at every point.

    At a point the wrapper returns ``terminated=True`` and remembers the observation; the next ``reset()`` returns
    that observation without touching the game (a "soft" reset). The game is really reset only when it is over
    (21 points), and when ``reset()`` is called while a point is in progress (REINFORCE resets envs that are
    mid-episode at the start of a rollout, and a user calling ``reset()`` expects a new game), or with a seed
    or options. Put :class:`~stable_baselines3.common.monitor.Monitor` *inside* this wrapper so it still reports
    whole games (scores -21..21); a game abandoned by a reset mid-point is not recorded by Monitor.

    :param env: Pong env, already preprocessed (the difference-frame state carries over points)
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._game_over = True
        self._point_steps = 0
        self._last_obs: Any = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if self._game_over or self._point_steps > 0 or seed is not None or options is not None:
            obs, info = self.env.reset(seed=seed, options=options)
            self._game_over = False
        else:
            obs, info = self._last_obs, {"point_reset": True}
        self._point_steps = 0
        self._last_obs = obs
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._point_steps += 1
        self._last_obs = obs
        if terminated or truncated:
            self._game_over = True
        elif reward != 0:
            terminated = True
            self._point_steps = 0
        return obs, reward, terminated, truncated, info


def default_frame_skip(env: gym.Env) -> int:
    """4 for an ALE env that does not skip frames itself (``...NoFrameskip-v4``), else 1."""
    return 4 if getattr(env.unwrapped, "_frameskip", None) == 1 else 1


class KarpathyPong(gym.Wrapper):
    """
    The whole Karpathy chain as one wrapper, for rl-zoo3's ``env_wrapper`` (SB3's ``Monitor`` is inside it):
    :class:`FrameSkip` (if the env does not skip frames) -> :class:`KarpathyPreprocessing` ->
    :class:`DifferenceFrames` -> flattened to 6,400 ``int8`` values -> :class:`BinaryPongActions` ->
    :class:`PerPointEpisodes` (if ``per_point``).

    The observation is a flat ``Box(-1, 1, (6400,), int8)`` vector, which SB3's ``MlpPolicy`` takes as is (it is
    not an image space) and the rollout buffer stores in 6,400 bytes a step.

    :param env: ``PongNoFrameskip-v4`` or ``ALE/Pong-v5`` (RGB observations)
    :param per_point: Make every point its own episode (:class:`PerPointEpisodes`)
    :param frame_skip: Frames per agent step added by :class:`FrameSkip`; None picks 4 for an env without frame
        skip and 1 (no wrapper) for one that already skips frames
    """

    def __init__(self, env: gym.Env, per_point: bool = True, frame_skip: int | None = None):
        if frame_skip is None:
            frame_skip = default_frame_skip(env)
        if frame_skip > 1:
            env = FrameSkip(env, skip=frame_skip)
        env = FlattenObservation(DifferenceFrames(KarpathyPreprocessing(env)))
        env = BinaryPongActions(env)
        if per_point:
            env = PerPointEpisodes(env)
        super().__init__(env)


def pong_hyperparameters() -> dict[str, Any]:
    """
    The REINFORCE preset for Karpathy Pong (the same values as ``hyperparams/reinforce.yml``), with per-point
    episodes: ``REINFORCE("MlpPolicy", make_pong_env(), **pong_hyperparameters())``.

    - a batch of 200 points per update: about 10 games while the agent loses 21-0 (Karpathy's 10 games);
    - ``gamma=0.99``, returns-to-go restarting at every point (per-point episodes), standardised over the batch;
    - one hidden layer of 200 ReLU units and a Bernoulli head ``P(UP)`` (from the ``MultiBinary(1)`` actions);
    - RMSprop, learning rate 1e-3, decay 0.99, as Karpathy; its epsilon is 1e-8, not his 1e-5, because SB3 averages
      the loss over the batch's steps (about 10,000) where he summed it, which makes the gradient 10^4 times smaller;
    - no entropy bonus, no learned baseline, gradient clipping only as a guard against blow-ups;
    - ``carry_episodes=False``: a point in flight when a rollout starts is dropped and a new game begins;
    - ``batch_size=2048`` steps per gradient-accumulation chunk: a float32 copy of 2,048 observations is 52 MB,
      while the rollout itself stays in int8 (6,400 bytes a step).
    """
    import torch as th

    return dict(
        n_episodes=200,
        baseline="none",  # Karpathy's: returns standardised over the batch, nothing else
        carry_episodes=False,  # a point in flight at a rollout's start is dropped (a new game starts)
        gamma=0.99,
        learning_rate=1e-3,
        normalize_advantage=True,
        ent_coef=0.0,
        max_grad_norm=10.0,
        batch_size=2048,
        policy_kwargs=dict(
            net_arch=[200],
            activation_fn=th.nn.ReLU,
            optimizer_class=th.optim.RMSprop,
            optimizer_kwargs=dict(alpha=0.99, eps=1e-8),
        ),
    )


def make_pong_env(
    env_id: str = "PongNoFrameskip-v4",
    n_envs: int = 2,
    seed: int | None = None,
    per_point: bool = True,
    frame_skip: int | None = None,
    monitor_dir: str | None = None,
    monitor_kwargs: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    vec_env_cls: type[DummyVecEnv] | type[SubprocVecEnv] | None = SubprocVecEnv,
    vec_env_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """
    Vectorised Karpathy Pong: ``make_vec_env`` with :class:`KarpathyPong` around SB3's ``Monitor``, so
    ``rollout/ep_rew_mean`` and the Monitor files report whole games, as rl-zoo3 builds it from the YAML preset.

    :param env_id: ``PongNoFrameskip-v4`` (frame skip 4 added) or ``ALE/Pong-v5`` (skips 4 frames itself,
        sticky actions with probability 0.25 unless ``env_kwargs`` says otherwise)
    :param n_envs: Number of envs (one process each with ``SubprocVecEnv``)
    :param seed: Seed of the first env (env i gets ``seed + i``)
    :param per_point: Make every point its own episode
    :param frame_skip: See :class:`KarpathyPong`
    :param monitor_dir: Where Monitor writes its CSV files (None: not written)
    :param monitor_kwargs: Keyword arguments for ``Monitor``
    :param env_kwargs: Keyword arguments for ``gym.make``
    :param vec_env_cls: ``SubprocVecEnv`` (default, one process per env) or ``DummyVecEnv``
    :param vec_env_kwargs: Keyword arguments for the VecEnv class
    :return: The vectorised env
    """
    return make_vec_env(
        env_id,
        n_envs=n_envs,
        seed=seed,
        wrapper_class=KarpathyPong,
        wrapper_kwargs=dict(per_point=per_point, frame_skip=frame_skip),
        env_kwargs=env_kwargs,
        monitor_dir=monitor_dir,
        monitor_kwargs=monitor_kwargs,
        vec_env_cls=vec_env_cls,
        vec_env_kwargs=vec_env_kwargs,
    )
