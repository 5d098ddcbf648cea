"""Class targets for the cross-entropy losses: labels, or rows of class weights.

Shared by the fused ``softmax_cross_entropy`` op and the book's
``cross_entropy_error`` composite, so both accept the same targets and refuse
the same mistakes with the same words.
"""

from __future__ import annotations

import numpy as np

from tinygrad_edu.errors import DomainError, DTypeError, ShapeError


def check_targets(
    scores: np.ndarray,
    t: np.ndarray,
    op: str = "softmax_cross_entropy",
    what: str = "logits",
) -> np.ndarray:
    """The targets of ``scores`` (N, C), or (C,) for one sample: labels (N,) or
    rows (N, C).

    - integer labels, one per row, in 0..C-1 (a single label for one sample);
    - integer one-hot rows, the book's ``t = [0, 0, 1, ...]``, read as the
      labels they encode, as the book's ``cross_entropy_error`` does;
    - float rows of class weights: one-hot rows, probabilities (soft labels),
      or any finite weights. The loss is linear in them; a row of zeros leaves
      its sample out.
    """
    if scores.ndim not in (1, 2):
        raise ShapeError(
            f"{op}: {what} must have shape (N, C) (or (C,) for one sample); got "
            f"{scores.ndim}-D {scores.shape}."
        )
    n, c = (1, scores.shape[0]) if scores.ndim == 1 else scores.shape
    if n == 0 or c == 0:
        raise ShapeError(
            f"{op}: {what} of shape {scores.shape} hold no "
            f"{'samples' if n == 0 else 'classes'}; the mean loss over an empty "
            f"batch is undefined. Skip empty batches."
        )
    if t.dtype.kind in "iub" and t.size == n * c and t.size > n:
        rows = t.reshape(n, c)
        if not (np.isin(rows, (0, 1)).all() and (rows.sum(axis=1) == 1).all()):
            raise DomainError(
                f"{op}: integer targets of shape {t.shape} match {what} "
                f"{scores.shape} but are not one-hot rows (a single 1 per row); "
                f"pass class labels, one-hot rows, or float rows of class weights."
            )
        return rows.argmax(axis=1)
    if t.dtype.kind in "iu":
        labels = t.reshape(-1)
        if labels.shape != (n,):
            raise ShapeError(
                f"{op}: {n} rows of {what} {scores.shape} but {labels.size} labels "
                f"of shape {t.shape}; pass one label per row."
            )
        if labels.size and (labels.min() < 0 or labels.max() >= c):
            bad = labels[(labels < 0) | (labels >= c)][0]
            raise DomainError(
                f"{op}: label {bad} is out of range for {c} classes; labels must be "
                f"integers in 0..{c - 1}."
            )
        return labels
    if t.dtype.kind != "f":
        raise DTypeError(
            f"{op}: targets of dtype {t.dtype}; pass integer class labels or "
            f"float rows of class weights (one-hot or probabilities)."
        )
    rows = t.reshape(1, -1) if scores.ndim == 1 and t.ndim == 1 else t
    if rows.ndim != 2:
        raise DTypeError(
            f"{op}: float targets of shape {t.shape} look like class labels; labels "
            f"must be integers (t.astype(int)), or pass one-hot rows of shape {(n, c)} "
            f"(or other rows of class weights)."
        )
    if rows.shape != (n, c):
        raise ShapeError(
            f"{op}: target rows of shape {t.shape} do not match {what} of shape "
            f"{scores.shape}; each row needs {c} entries (classes)."
        )
    if not np.isfinite(rows).all():
        raise DomainError(
            f"{op}: the target rows hold NaN or inf; class weights must be finite "
            f"numbers (one-hot rows or probabilities)."
        )
    return rows
