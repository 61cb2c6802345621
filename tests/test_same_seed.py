"""
Same seed, same parameters: short seeded runs of the main configurations end with the parameters recorded in
``tests/data/same_seed_params.npz``. A change of the code's structure must leave them as they are; a change of
the algorithm's behaviour must regenerate them on purpose::

    python -m tests.test_same_seed

Two runs with the same seed in one process end with identical parameters, too.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from sb3_reinforce import REINFORCE
from tests.conftest import params_of

REFERENCE = Path(__file__).parent / "data" / "same_seed_params.npz"
TIMESTEPS = 3_000

# name: (env id, n_envs, REINFORCE arguments)
CONFIGURATIONS: dict[str, tuple[str, int, dict[str, Any]]] = {
    "defaults_1_env": ("CartPole-v1", 1, {}),
    "carrying_8_envs": ("CartPole-v1", 8, {}),
    "carrying_off_8_envs": ("CartPole-v1", 8, dict(carry_episodes=False)),
    "value_separate": ("CartPole-v1", 4, dict(use_baseline=True)),
    "value_joint": ("CartPole-v1", 4, dict(use_baseline=True, value_fit="joint")),
    "no_baseline_whole_return": ("CartPole-v1", 4, dict(baseline="none", reward_to_go=False)),
    "gsde_value": ("Pendulum-v1", 2, dict(use_baseline=True, use_sde=True, n_episodes=4)),
    "gaussian_leave_one_out": ("Pendulum-v1", 2, dict(baseline="leave_one_out", n_episodes=4)),
}


def final_parameters(name: str) -> dict[str, np.ndarray]:
    """The policy's parameters (and the value optimizer's, when there is one) after the seeded run ``name``."""
    env_id, n_envs, kwargs = CONFIGURATIONS[name]
    env = make_vec_env(env_id, n_envs=n_envs, seed=0)
    model = REINFORCE("MlpPolicy", env, seed=0, **kwargs).learn(TIMESTEPS)
    params = {f"{name}/{key}": value.detach().cpu().numpy().copy() for key, value in model.policy.state_dict().items()}
    params[f"{name}/num_timesteps"] = np.array(model.num_timesteps)
    return params


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_seeded_run_ends_with_the_recorded_parameters(name: str) -> None:
    th.set_num_threads(1)
    reference = np.load(REFERENCE)
    expected = {key: reference[key] for key in reference.files if key.startswith(f"{name}/")}
    assert expected, f"no recorded parameters for {name}: regenerate with python -m tests.test_same_seed"
    actual = final_parameters(name)
    assert sorted(actual) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(actual[key], value, rtol=1e-5, atol=1e-6, err_msg=key)


def test_same_seed_gives_identical_parameters():
    runs = []
    for _ in range(2):
        model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=7), use_baseline=True, seed=7, device="cpu")
        model.learn(3_000)
        runs.append(params_of(model))
    for name in runs[0]:
        assert th.equal(runs[0][name], runs[1][name]), name


if __name__ == "__main__":
    th.set_num_threads(1)
    recorded: dict[str, np.ndarray] = {}
    for configuration in sorted(CONFIGURATIONS):
        recorded.update(final_parameters(configuration))
        print(configuration, "recorded")
    REFERENCE.parent.mkdir(exist_ok=True)
    np.savez_compressed(REFERENCE, **recorded)
    print(f"wrote {REFERENCE}")
