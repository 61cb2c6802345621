"""REINFORCE against other algorithms, each with its own presets and budgets, and the time it takes to solve."""
