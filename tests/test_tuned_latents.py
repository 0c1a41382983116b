"""invert.tuned_latents: a latent's tuned update found through its record, morph's per-frame blend, and how
results name the update."""
import json
import os
import re

import numpy as np
import pytest

from editing_helpers import RANDOM, load, sample_ws
from invert.errors import TuningError
from invert.render import synthesize
from invert.tuned_latents import IGNORE_TUNED, frame_update, load_recorded, recorded_update, reference
from invert.tuning import apply_update
from tuning_helpers import directly_updated, random_update, save_tuned_latent

# Images through weights that differ by float32 rounding (see test_tuning_update.IMAGE_ATOL).
IMAGE_ATOL = 1e-4


@pytest.fixture
def G():
    return load(RANDOM)


def test_the_record_names_the_update_relative_to_its_folder(tmp_path, G):
    path = save_tuned_latent(tmp_path / "a.npy", G, sample_ws(G, 1, 0)[0], random_update(G, 4), spec=RANDOM)
    found = recorded_update(tmp_path / "a.npy")
    assert found.file == path and found.record == tmp_path / "a.json" and found.latent == tmp_path / "a.npy"
    assert load_recorded(found, G).path == str(path)
    # from another working directory, and with an absolute path in the record
    record = json.loads((tmp_path / "a.json").read_text())
    (tmp_path / "a.json").write_text(json.dumps(dict(record, tuned=str(path))))
    assert recorded_update(tmp_path / "a.npy").file == path


def test_no_update_without_a_record_or_with_tuned_null(tmp_path, G):
    from invert.latents import save_latent
    from invert.records import latent_record

    np.save(tmp_path / "bare.npy", np.zeros([G.num_ws, G.w_dim], np.float32))
    assert recorded_update(tmp_path / "bare.npy") is None
    save_latent(tmp_path / "r.npy", np.zeros([G.num_ws, G.w_dim], np.float32),
                record=latent_record(G, generator_spec=RANDOM, command="generate"))
    assert recorded_update(tmp_path / "r.npy") is None
    assert load_recorded(None, G) is None
    (tmp_path / "r.json").write_text("{broken")  # reported when the generator is chosen, not here
    assert recorded_update(tmp_path / "r.npy") is None


@pytest.mark.parametrize("value", ["", 7, ["a_tuned.safetensors"]])
def test_a_tuned_field_that_is_not_a_file_name(tmp_path, G, value):
    save_tuned_latent(tmp_path / "a.npy", G, sample_ws(G, 1, 0)[0], random_update(G, 4), spec=RANDOM)
    record = json.loads((tmp_path / "a.json").read_text())
    (tmp_path / "a.json").write_text(json.dumps(dict(record, tuned=value)))
    with pytest.raises(TuningError, match=f"latent record .*a.json has tuned: {re.escape(repr(value))}, which is not a "
                                          "file name"):
        recorded_update(tmp_path / "a.npy")


def test_errors_name_the_record_and_the_file_and_the_remedy(tmp_path, G):
    path = save_tuned_latent(tmp_path / "a.npy", G, sample_ws(G, 1, 0)[0], random_update(G, 4), spec=RANDOM)
    found = recorded_update(tmp_path / "a.npy")
    path.write_bytes(b"\x80\x04 not an update")
    with pytest.raises(TuningError) as error:
        load_recorded(found, G)
    assert str(error.value) == (f"cannot use the tuned update {path} named by latent record {tmp_path / 'a.json'}: "
                                f"a_tuned.safetensors is a pickle, not a safetensors file; refused without reading "
                                f"it (a pickle can run code)")
    assert error.value.remedies == (IGNORE_TUNED,)
    path.unlink()
    with pytest.raises(TuningError, match="named by latent record .*a.json does not exist") as error:
        load_recorded(found, G)
    assert error.value.remedies == (IGNORE_TUNED,)


def test_results_name_the_update_relative_to_their_own_folder(tmp_path):
    update = tmp_path / "photos" / "a_tuned.safetensors"
    assert reference(update, tmp_path / "photos" / "e.npy") == "a_tuned.safetensors"
    assert reference(update, tmp_path / "edits" / "deep" / "e.npy") == os.path.join("..", "..", "photos",
                                                                                   "a_tuned.safetensors")
    # relative inputs are taken from the working directory, as the commands read them
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert reference("photos/a_tuned.safetensors", "e.npy") == os.path.join("photos", "a_tuned.safetensors")
    finally:
        os.chdir(cwd)


@pytest.mark.numerics
def test_frame_update_weights_the_ends_and_leaves_out_zero_terms(G):
    a, b = random_update(G, 4, seed=1, size=0.2), random_update(G, 1, seed=2, size=0.2)
    # the ends are the updates themselves (no zero-weight factor joins them), an untuned end is no update
    assert frame_update(a, b, 0.0) is a and frame_update(a, b, 1.0) is b
    assert frame_update(a, None, 1.0) is None and frame_update(None, b, 0.0) is None
    assert frame_update(None, None, 0.5) is None
    assert all(frame_update(a, a, t) is a for t in (0.0, 0.3, 1.0))
    ws = sample_ws(G, 2, seed=3)
    for t in (0.25, 0.5):
        blend = frame_update(a, b, t)
        assert blend.rank == 5 and blend.blended
        np.testing.assert_allclose(synthesize(apply_update(G, blend), ws),
                                   synthesize(directly_updated(G, [(a, 1 - t), (b, t)]), ws), rtol=0, atol=IMAGE_ATOL)
    half = frame_update(a, None, 0.5)
    assert half.rank == 4
    np.testing.assert_allclose(synthesize(apply_update(G, half), ws), synthesize(apply_update(G, a, scale=0.5), ws),
                               rtol=0, atol=IMAGE_ATOL)
