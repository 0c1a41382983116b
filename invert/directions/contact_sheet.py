"""A preview of what each direction of a set does: one labelled PNG, a row per direction.

Columns are strengths from -3 to +3 sigma (the direction's standard deviation in W), repeated for a
few fixed seeds, so a user sees at a glance which directions are worth naming. Layout:

    title: method, generator (RANDOM WEIGHTS when they are), layers, truncation
    header: 'seed S' over each seed's group of columns, the strength over each column
    left:   '#k', 'sd <std>' (and 'ev <eigenvalue>' for SeFa) beside each row
    tiles:  tile x tile px each (the generator's resolution, at most 256 by default)
"""
from dataclasses import dataclass

import numpy as np

from invert.editing import format_layers
from invert.errors import BoundaryError

DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_STRENGTHS = (-3.0, -1.5, 0.0, 1.5, 3.0)
MAX_TILE = 256
GAP = 2           # between tiles
GROUP_GAP = 10    # between seeds' groups
PAD = 4
BACKGROUND = (24, 24, 24)
TEXT = (235, 235, 235)
WARNING_TEXT = (255, 120, 90)


@dataclass
class ContactSheet:
    """The sheet `image` uint8 [H, W, 3] and its geometry: `rows` directions x `columns` (seed, strength) tiles."""

    image: np.ndarray
    tile: int
    rows: int
    columns: int
    seeds: tuple
    strengths: tuple
    indices: tuple       # the set's direction shown in each row
    left: int            # x of the first tile column
    top: int             # y of the first tile row

    def tile_box(self, row, column):
        """(left, top, right, bottom) of tile (row, column); column = seed index * len(strengths) + strength index."""
        group, within = divmod(column, len(self.strengths))
        x = self.left + group * (len(self.strengths) * (self.tile + GAP) + GROUP_GAP) + within * (self.tile + GAP)
        y = self.top + row * (self.tile + GAP)
        return x, y, x + self.tile, y + self.tile


def edited_latents(G, dset, index, *, seeds, strengths, truncation_psi=0.7, layers=None):
    """W+ latents of one sheet row: for each seed, w + s * std_k * d_k for each strength s -> [S * T, num_ws, w_dim].

    The seed's w is NVIDIA's (`invert.generate.seed_to_z`, then the mapping with `truncation_psi`);
    the edit touches `layers` (the set's layers, or all when it records none).
    """
    import torch

    from invert.editing import apply_direction
    from invert.generate import seed_to_z

    layers = layers if layers is not None else dset.layers
    device = next(G.parameters()).device
    z = torch.from_numpy(np.concatenate([seed_to_z(seed, G.z_dim) for seed in seeds])).to(device)
    with torch.no_grad():
        base = G.mapping(z, truncation_psi=truncation_psi).cpu().numpy()
    scale = float(dset.std[index])
    return np.stack([apply_direction(w, dset.directions[index], strength=s * scale, layers=layers)
                     for w in base for s in strengths])


def contact_sheet(G, dset, *, indices=None, seeds=DEFAULT_SEEDS, strengths=DEFAULT_STRENGTHS, tile=None,
                  truncation_psi=0.7, layers=None, title=None, batch_size=8):
    """Render the preview of `dset`'s directions `indices` (all by default) for generator G -> ContactSheet."""
    from PIL import Image

    from invert.render import render

    indices = tuple(range(len(dset))) if indices is None else tuple(int(i) for i in indices)
    seeds, strengths = tuple(int(s) for s in seeds), tuple(float(s) for s in strengths)
    if not indices or not seeds or not strengths:
        raise BoundaryError("a contact sheet needs at least one direction, one seed and one strength")
    for index in indices:
        dset.check_index(index, name="the direction set")
    tile = min(G.resolution, MAX_TILE) if tile is None else int(tile)
    if not 8 <= tile <= 1024:
        raise BoundaryError(f"tile size {tile} must be between 8 and 1024 pixels")
    font = _font(tile)
    labels = [_row_label(dset, index) for index in indices]
    line = _text_height(font) + 3
    left = PAD + max(_text_width(font, text) for label in labels for text in label) + PAD
    top = PAD + 2 * line + PAD + 2 * line
    columns = len(seeds) * len(strengths)
    sheet = ContactSheet(image=None, tile=tile, rows=len(indices), columns=columns, seeds=seeds,
                         strengths=strengths, indices=indices, left=left, top=top)
    title = title or _title(G, dset, truncation_psi, layers)
    right, bottom = sheet.tile_box(len(indices) - 1, columns - 1)[2:]
    width = max(right + PAD, PAD + max(_text_width(font, text) for text in title) + PAD)
    canvas = Image.new("RGB", (width, bottom + PAD), BACKGROUND)
    _draw_text(canvas, sheet, font, line, labels, title)
    for row, index in enumerate(indices):
        ws = edited_latents(G, dset, index, seeds=seeds, strengths=strengths, truncation_psi=truncation_psi,
                            layers=layers)
        for column, pixels in enumerate(render(G, ws, batch_size=batch_size)):
            image = Image.fromarray(pixels)
            if image.size != (tile, tile):
                image = image.resize((tile, tile), Image.LANCZOS)
            canvas.paste(image, sheet.tile_box(row, column)[:2])
    sheet.image = np.asarray(canvas)
    return sheet


def _title(G, dset, truncation_psi, layers):
    method = {"sefa": "SeFa", "ganspace": "GANSpace"}.get(dset.metadata.get("method"), dset.metadata.get("method"))
    source = (getattr(G, "source", None) or {}).get("path") or "generator"
    rows = layers if layers is not None else dset.layers
    first = f"{method}: {len(dset)} directions of {source}"
    second = (f"layers {format_layers(rows) if rows else 'all'}; truncation {truncation_psi:g}; columns: strength "
              f"in sd (std of w along the direction)")
    return [first + (" -- RANDOM WEIGHTS, not a trained model" if getattr(G, "is_random", False) else ""), second]


def _row_label(dset, index):
    label = [f"#{index}", f"sd {dset.std[index]:.3g}"]
    if dset.eigenvalues is not None:
        label.append(f"ev {dset.eigenvalues[index]:.3g}")
    return label


def _draw_text(canvas, sheet, font, line, labels, title):
    from PIL import ImageDraw

    draw = ImageDraw.Draw(canvas)
    for i, text in enumerate(title):
        colour = WARNING_TEXT if "RANDOM WEIGHTS" in text else TEXT
        draw.text((PAD, PAD + i * line), text, font=font, fill=colour)
    header = PAD + 2 * line + PAD
    for group, seed in enumerate(sheet.seeds):
        x = sheet.tile_box(0, group * len(sheet.strengths))[0]
        draw.text((x, header), f"seed {seed}", font=font, fill=TEXT)
        for j, strength in enumerate(sheet.strengths):
            x = sheet.tile_box(0, group * len(sheet.strengths) + j)[0]
            draw.text((x, header + line), f"{strength:+g}" if strength else "0", font=font, fill=TEXT)
    for row, label in enumerate(labels):
        y = sheet.tile_box(row, 0)[1]
        for i, text in enumerate(label):
            if i * line + line <= sheet.tile + GAP or i == 0:
                draw.text((PAD, y + i * line), text, font=font, fill=TEXT)


def _font(tile):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=max(10, min(16, tile // 10)))
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _text_width(font, text):
    box = font.getbbox(text)
    return box[2] - box[0]


def _text_height(font):
    box = font.getbbox("Ag+-0")
    return box[3]
