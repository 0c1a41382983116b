"""invert.directions.contact_sheet: rows x columns of tiles, each the rendering of its edit."""
import numpy as np
import pytest
from PIL import Image

from editing_helpers import load
from invert.directions.contact_sheet import contact_sheet, edited_latents
from invert.directions.discover import sefa
from invert.errors import BoundaryError
from invert.generate import seed_to_z
from invert.render import render


@pytest.fixture(scope="module")
def setup():
    G = load("random:32")
    return G, sefa(G, count=3, rows=[0, 1, 2, 3], std_samples=500)


def test_every_tile_is_its_edit_rendered(setup):
    import torch

    G, dset = setup
    seeds, strengths = (0, 5), (-3.0, 0.0, 3.0)
    sheet = contact_sheet(G, dset, seeds=seeds, strengths=strengths, truncation_psi=0.7)
    assert (sheet.rows, sheet.columns, sheet.tile) == (3, 6, 32)  # tiles of min(resolution, 256) px
    right, bottom = sheet.tile_box(2, 5)[2:]
    assert sheet.image.shape[0] > bottom and sheet.image.shape[1] > right and sheet.image.dtype == np.uint8
    with torch.no_grad():
        base = G.mapping(torch.from_numpy(np.concatenate([seed_to_z(s, G.z_dim) for s in seeds])),
                         truncation_psi=0.7).numpy().astype(np.float64)
    for row in range(3):
        ws = edited_latents(G, dset, row, seeds=seeds, strengths=strengths, truncation_psi=0.7)
        for column in range(6):
            seed_index, strength = divmod(column, 3)
            expected = base[seed_index].copy()
            expected[:4] += strengths[strength] * dset.std[row] * dset.directions[row]   # the set's layers only
            np.testing.assert_allclose(ws[column], expected, atol=1e-5)
            left, top, r, b = sheet.tile_box(row, column)
            np.testing.assert_array_equal(sheet.image[top:b, left:r], render(G, ws[column][None])[0])
    # tiles do not overlap, and the label area left of the tiles is not a tile
    boxes = [sheet.tile_box(r, c) for r in range(3) for c in range(6)]
    assert len({(x, y) for x, y, _, _ in boxes}) == 18
    assert all(x >= sheet.left > 0 and y >= sheet.top > 0 for x, y, _, _ in boxes)


def test_smaller_tiles_are_downscaled_renders(setup):
    G, dset = setup
    sheet = contact_sheet(G, dset, indices=[1], seeds=(3,), strengths=(2.0,), tile=16)
    assert (sheet.rows, sheet.columns, sheet.tile) == (1, 1, 16)
    rendered = render(G, edited_latents(G, dset, 1, seeds=(3,), strengths=(2.0,)))[0]
    expected = np.asarray(Image.fromarray(rendered).resize((16, 16), Image.LANCZOS))
    left, top, right, bottom = sheet.tile_box(0, 0)
    np.testing.assert_array_equal(sheet.image[top:bottom, left:right], expected)


def test_the_default_tile_is_the_resolution_capped(setup, monkeypatch):
    """min(resolution, 256): exercised with the cap lowered to 16, as rendering a 512 px network is slow."""
    from invert.directions import contact_sheet as module

    G, dset = setup
    assert module.MAX_TILE == 256
    monkeypatch.setattr(module, "MAX_TILE", 16)
    sheet = contact_sheet(G, dset, indices=[0], seeds=(0,), strengths=(0.0,))
    assert sheet.tile == 16
    left, top, right, bottom = sheet.tile_box(0, 0)
    assert sheet.image[top:bottom, left:right].shape == (16, 16, 3)


def test_bad_requests(setup):
    G, dset = setup
    with pytest.raises(BoundaryError, match="the direction set holds 3 directions, numbered 0-2; there is no "
                                            "direction 3"):
        contact_sheet(G, dset, indices=[3])
    with pytest.raises(BoundaryError, match="at least one direction, one seed and one strength"):
        contact_sheet(G, dset, seeds=())
    with pytest.raises(BoundaryError, match="tile size 4 must be between 8 and 1024"):
        contact_sheet(G, dset, tile=4)
