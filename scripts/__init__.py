"""
The repository's scripts, grouped by what they are for. Run them from the repository's root as modules:
``python -m scripts.<group>.<script> --help``.

- ``studies``: what each part of REINFORCE is worth (ablation, baselines, variance, sweeps, the sequence task)
- ``benchmarks``: REINFORCE against A2C, PPO and MaskablePPO, and the time it takes to solve CartPole
- ``speed``: training throughput, and a paired speed check of a checkout against any git ref
- ``pong``: training Karpathy's Pong from pixels over days, with checkpoints and resume
- ``docs``: the documentation's tables and figures, written from the committed run records

``common`` holds what several of them share.
"""
