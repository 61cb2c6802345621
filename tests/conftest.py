"""pytest's configuration: the torch thread setting (the shared helpers are in ``tests/helpers.py``)."""

import torch as th

# The models under test are tiny: one intra-op thread is fastest, and keeps pytest -n 2 from oversubscribing cores.
th.set_num_threads(1)
