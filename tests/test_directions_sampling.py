"""invert.directions.sampling: sampled latents scored by the attribute scorer."""
import numpy as np
import pytest
import torch

from editing_helpers import load
from invert.directions.sampling import sample_and_score
from invert.errors import BoundaryError
from numerics import assert_close_to_scale


@pytest.mark.numerics
def test_sample_and_score_uses_the_attribute_scorer(monkeypatch):
    from invert import attributes

    G = load("random:32")
    seen = []

    def fake_scores(images, attribute):
        seen.append((images.shape, images.dtype, attribute))
        scores = images.astype(np.float64).mean(axis=(1, 2, 3))
        scores[::3] = np.nan  # "no face"
        return scores

    monkeypatch.setattr(attributes, "score_images", fake_scores)
    codes, scores = sample_and_score(G, attribute="smile", samples=10, batch_size=4, seed=5)
    assert codes.shape == (10, G.w_dim) and scores.shape == (10,)
    assert [s[0] for s in seen] == [(4, 32, 32, 3), (4, 32, 32, 3), (2, 32, 32, 3)]
    assert all(s[1] == np.uint8 and s[2] == "smile" for s in seen)
    assert np.isnan(scores).sum() == 2 + 2 + 1
    z = torch.randn([10, G.z_dim], generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        # mapped in batches of 4 against one batch of 10: float32 rounding of 8 layers, not bit for bit
        assert_close_to_scale(codes, G.mapping(z)[:, 0], rtol=1e-5)
    with pytest.raises(BoundaryError, match="unknown attribute 'beard'; the built-in ones are eyes_open, mouth_open"):
        sample_and_score(G, attribute="beard", samples=2)
