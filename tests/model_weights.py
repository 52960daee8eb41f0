"""``weights(model)`` and ``assert_unchanged(model, before)``: for the tests that a refused call
leaves a model's parameters as they were."""

import numpy as np


def weights(model):
    return [p.data.copy() for p in model.parameters()]


def assert_unchanged(model, before):
    for p, w in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, w)
