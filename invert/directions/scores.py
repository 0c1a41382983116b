"""Attribute scores for your own latents: a CSV or text file with one number per latent."""
import csv
import math
from pathlib import Path

import numpy as np

from invert.errors import BoundaryError

_MISSING = ("", "nan", "na", "n/a", "none")


def read_scores(path):
    """Scores from a CSV/text file: one number per row in a single column, or the column named 'score'
    of a file with a header row. Empty cells, 'nan' and 'NA' mean no score (dropped when training);
    lines starting with '#' are comments. Returns float64 [N]."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BoundaryError(f"scores file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BoundaryError(f"cannot read scores file {path}: {' '.join(str(exc).split())}") from None
    rows = [(number, row) for number, row in enumerate(csv.reader(text.splitlines()), start=1)
            if row and any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")]
    if not rows:
        raise BoundaryError(f"scores file {path} holds no scores")
    rows, column = _score_column(rows, path)
    values = []
    for number, row in rows:
        cell = row[column].strip() if column < len(row) else ""
        if cell.lower() in _MISSING:
            values.append(math.nan)
            continue
        try:
            values.append(float(cell))
        except ValueError:
            raise BoundaryError(f"scores file {path}, line {number}: {cell!r} is not a number") from None
    if not values:
        raise BoundaryError(f"scores file {path} holds no scores")
    return np.asarray(values, dtype=np.float64)


def _score_column(rows, path):
    """(data rows, index of the scores column): a header row is recognised by a cell that is no number."""
    first = rows[0][1]
    if not all(_is_number(cell) for cell in first):
        header = [cell.strip().lower() for cell in first]
        if len(header) > 1 and "score" not in header:
            raise BoundaryError(f"scores file {path} has columns {first}; name the scores column 'score'")
        return rows[1:], header.index("score") if len(header) > 1 else 0
    if len(first) > 1:
        raise BoundaryError(f"scores file {path} has {len(first)} columns; put the scores in one column, or add a "
                            f"header row that names the scores column 'score'")
    return rows, 0


def _is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return cell.strip().lower() in _MISSING
