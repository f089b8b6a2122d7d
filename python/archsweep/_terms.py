"""Today's seven layer kinds as the generic kernel's algebra: factors and
polynomials over the operands the front ends already build (``FIELDS`` order:
n_features, n_units, kernel_d/h/w, bias, bidirectional, convention,
reset_after, groups), plus three coefficient operands computed from the
options.

Every kind is one polynomial (a Dense layer is a 1×1 convolution; SimpleRNN,
LSTM and GRU are 1, 4 and 3 gate sets of ``[W | U | b]``)::

    input · (n_features/groups) · n_units · kernel_d · kernel_h · kernel_w
      + recurrent · n_units² + bias · n_units

with ``input = directions · gates``, ``recurrent = input`` for recurrent
kinds (else 0) and ``bias = input · bias_vectors`` when the layer has a bias
(else 0). The kernel dimensions are factors, not folded into a coefficient,
so a product of huge kernel sizes is the kernel's to check exactly. groups
must divide n_units too: a quotient used in no term.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._names import CONVENTIONS, FIELDS, RECURRENT

QUANTITIES = ("params", "trainable", "non_trainable", "buffers")

N_FEATURES, N_UNITS, KERNEL_D, KERNEL_H, KERNEL_W, BIAS, BIDIRECTIONAL, CONVENTION, RESET_AFTER, GROUPS = range(
    len(FIELDS)
)
# The coefficient operands, after the ten fields.
INPUT, RECURRENT_COEF, BIAS_COEF = range(len(FIELDS), len(FIELDS) + 3)

FACTORS: list[tuple] = [
    ("quotient", N_FEATURES, GROUPS),
    ("axis", N_UNITS),
    ("axis", KERNEL_D),
    ("axis", KERNEL_H),
    ("axis", KERNEL_W),
    ("quotient", N_UNITS, GROUPS),
]
# The factors whose refusal means "groups does not divide n_features and n_units".
GROUPS_FACTORS = frozenset({0, 5})

_PARAMS = [
    (INPUT, [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]),
    (RECURRENT_COEF, [(1, 2)]),
    (BIAS_COEF, [(1, 1)]),
]
# Today's kinds have no frozen weights and no buffers.
POLYNOMIALS: dict[str, list] = {"params": _PARAMS, "trainable": _PARAMS, "non_trainable": [], "buffers": []}

_GATES = {"lstm": 4, "gru": 3}
_KERAS, _TORCH = CONVENTIONS.index("keras"), CONVENTIONS.index("torch")


def _option(operand: np.ndarray) -> int | np.ndarray:
    """An option operand as a Python int when it holds one value (the usual
    case, and ints are cheaper than numpy scalars), else as an int64 array."""
    a = np.asarray(operand)
    return int(a.reshape(-1)[0]) if a.size == 1 else a.astype(np.int64, copy=False)


def coefficients(layer: str, fields: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The coefficient operands of ``layer`` from its option operands (each
    broadcast over the options it depends on, so as small as they are)."""
    bidirectional, bias, convention = _option(fields[BIDIRECTIONAL]), _option(fields[BIAS]), _option(fields[CONVENTION])
    scale = _GATES.get(layer, 1) * (1 + bidirectional)
    recurrent = scale if layer in RECURRENT else 0
    # PyTorch keeps b_ih and b_hh, and so does a Keras GRU with reset_after.
    two = convention == _TORCH
    if layer == "gru":
        two = two | ((convention == _KERAS) & (_option(fields[RESET_AFTER]) != 0))
    bias_vectors = 1 + two if layer in RECURRENT else 1
    return [np.asarray(c, dtype=np.int64) for c in (scale, recurrent, scale * bias * bias_vectors)]


def block(
    layer: str, fields: Sequence[np.ndarray], quantities: Sequence[str] = ("params",)
) -> tuple[list[np.ndarray], list[tuple], list[list]]:
    """(operands, factors, polynomials) for the kernel's ``poly_*`` entry
    points: the ten field operands (so a sweep's columns keep their field
    codes), then the coefficients, and one polynomial per quantity asked."""
    return [*fields, *coefficients(layer, fields)], FACTORS, [POLYNOMIALS[q] for q in quantities]
