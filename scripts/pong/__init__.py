"""Karpathy's Pong from pixels: the training script and the shell scripts that keep long runs going."""
