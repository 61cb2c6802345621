"""REINFORCE (Monte Carlo policy gradient) for Stable-Baselines3."""

from sb3_reinforce.buffers import EpisodicRolloutBuffer
from sb3_reinforce.carrying import CarryingEpisodicRolloutBuffer
from sb3_reinforce.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, REINFORCEPolicy
from sb3_reinforce.recurrent import RecurrentREINFORCE
from sb3_reinforce.recurrent_policies import CnnLstmPolicy, MlpLstmPolicy, MultiInputLstmPolicy, RecurrentREINFORCEPolicy
from sb3_reinforce.reinforce import REINFORCE
from sb3_reinforce.schedules import StepsLinearSchedule

__version__ = "0.1.0"

__all__ = [
    "REINFORCE",
    "CarryingEpisodicRolloutBuffer",
    "CnnLstmPolicy",
    "CnnPolicy",
    "EpisodicRolloutBuffer",
    "MlpLstmPolicy",
    "MlpPolicy",
    "MultiInputLstmPolicy",
    "MultiInputPolicy",
    "REINFORCEPolicy",
    "RecurrentREINFORCE",
    "RecurrentREINFORCEPolicy",
    "StepsLinearSchedule",
    "__version__",
]
