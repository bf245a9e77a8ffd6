"""Suite-wide settings: one intra-op thread (the tests use small tensors; thread hand-offs dominate)."""

import torch

torch.set_num_threads(1)
