"""
Same seed, same parameters: short seeded runs of the main configurations end with the parameters recorded in
``tests/data/same_seed_params.npz``. A change of the code's structure must leave them as they are; a change of
the algorithm's behaviour must regenerate them on purpose::

    python -m tests.test_same_seed

Float rounding differs between CPUs (vectorised kernels, summation order), so a run is not bit-exact on another
machine. The comparison is relative to how far training moved each tensor: ``|actual - recorded|`` over
``|recorded - initial|`` stays under :data:`TOLERANCE` on any CPU (under ``ATEN_CPU_CAPABILITY=default``, the
plainest kernels, the worst tensor is about 4e-5), while scaling the policy loss by 1.01 moves some tensor of every
configuration by 1e-3 or more, which a test below checks.

Two runs with the same seed in one process end with identical parameters, too.
"""

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from sb3_reinforce import REINFORCE
from sb3_reinforce.policies import REINFORCEPolicy
from tests.helpers import params_of

REFERENCE = Path(__file__).parent / "data" / "same_seed_params.npz"
TIMESTEPS = 3_000
#: Largest difference from the recorded parameters, relative to how far training moved each tensor
TOLERANCE = 2e-4

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


def state_of(model: REINFORCE, name: str) -> dict[str, np.ndarray]:
    return {f"{name}/{key}": value.detach().cpu().numpy().copy() for key, value in model.policy.state_dict().items()}


def seeded_run(name: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The policy's state before and after the seeded run ``name`` (the latter with the number of steps trained)."""
    env_id, n_envs, kwargs = CONFIGURATIONS[name]
    env = make_vec_env(env_id, n_envs=n_envs, seed=0)
    model = REINFORCE("MlpPolicy", env, seed=0, **kwargs)
    initial = state_of(model, name)
    params = state_of(model.learn(TIMESTEPS), name)
    params[f"{name}/num_timesteps"] = np.array(model.num_timesteps)
    return initial, params


def final_parameters(name: str) -> dict[str, np.ndarray]:
    """The policy's state (parameters and buffers) after the seeded run ``name``."""
    return seeded_run(name)[1]


def relative_differences(
    actual: dict[str, np.ndarray], expected: dict[str, np.ndarray], initial: dict[str, np.ndarray]
) -> dict[str, float]:
    """
    For every tensor, ``|actual - expected| / |expected - initial|`` (Euclidean norms): the difference from the
    recorded run relative to how far training moved the tensor (0 for a tensor equal to the record, inf for one that
    training did not move and that differs).
    """
    differences = {}
    for key, initial_value in initial.items():
        difference = np.linalg.norm(actual[key].astype(np.float64) - expected[key])
        moved = np.linalg.norm(expected[key].astype(np.float64) - initial_value)
        differences[key] = 0.0 if difference == 0 else difference / moved if moved > 0 else np.inf
    return differences


def compare_with_record(name: str) -> dict[str, float]:
    """
    Run ``name`` and return the relative differences of its tensors from the record, and of its number of steps
    (0 when it played as many steps as the recorded run, inf otherwise).
    """
    th.set_num_threads(1)
    reference = np.load(REFERENCE)
    expected = {key: reference[key] for key in reference.files if key.startswith(f"{name}/")}
    assert expected, f"no recorded parameters for {name}: regenerate with python -m tests.test_same_seed"
    initial, actual = seeded_run(name)
    assert sorted(actual) == sorted(expected)
    steps = f"{name}/num_timesteps"
    return {**relative_differences(actual, expected, initial), steps: 0.0 if actual[steps] == expected[steps] else np.inf}


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_seeded_run_ends_with_the_recorded_parameters(name: str) -> None:
    differences = compare_with_record(name)
    worst = max(differences, key=differences.__getitem__)
    assert differences[worst] < TOLERANCE, f"{worst} differs from the record by {differences[worst]:.3g} of its update"


@pytest.mark.parametrize("name", sorted(CONFIGURATIONS))
def test_the_comparison_sees_a_policy_loss_scaled_by_1_01(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tolerance leaves the test its power: a policy loss 1 % larger fails every configuration."""
    evaluate_samples = REINFORCEPolicy.evaluate_samples

    def scaled(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        values, log_prob, entropy = evaluate_samples(self, *args, **kwargs)
        return values, 1.01 * log_prob, entropy

    monkeypatch.setattr(REINFORCEPolicy, "evaluate_samples", scaled)
    assert max(compare_with_record(name).values()) > 2 * TOLERANCE


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
