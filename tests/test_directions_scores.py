"""invert.directions.scores: reading a user's attribute scores."""
import numpy as np
import pytest

from invert.directions.scores import read_scores
from invert.errors import BoundaryError


def test_read_scores(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("1.5\n-2\n\n# a comment\nnan\n3e-1\n")
    np.testing.assert_array_equal(read_scores(path), [1.5, -2, np.nan, 0.3])
    path.write_text("file,score,other\na.png,1,9\nb.png,,9\nc.png,-1,9\n")
    np.testing.assert_array_equal(read_scores(path), [1, np.nan, -1])
    path.write_text("smile\n0.1\n0.2\n")
    np.testing.assert_array_equal(read_scores(path), [0.1, 0.2])


def test_read_scores_errors(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("1\n2\nlots\n")
    with pytest.raises(BoundaryError, match=r"s.csv, line 3: 'lots' is not a number"):
        read_scores(path)
    path.write_text("1,2\n3,4\n")
    with pytest.raises(BoundaryError, match="has 2 columns; put the scores in one column, or add a header row"):
        read_scores(path)
    path.write_text("a,b\n3,4\n")
    with pytest.raises(BoundaryError, match="name the scores column 'score'"):
        read_scores(path)
    path.write_text("\n")
    with pytest.raises(BoundaryError, match="holds no scores"):
        read_scores(path)
    path.write_text("score\n")
    with pytest.raises(BoundaryError, match="holds no scores"):
        read_scores(path)
    with pytest.raises(BoundaryError, match="scores file not found"):
        read_scores(tmp_path / "none.csv")
