"""invert.latents: every accepted layout, every refusal, and the noise file beside a latent."""
from types import SimpleNamespace

import numpy as np
import pytest

from invert.errors import LatentError
from invert.latents import (latent_paths, load_latent, load_latent_stack, load_noise, noise_path_for, read_array,
                            save_latent)

NUM_WS, W_DIM = 4, 6
NOISE_SHAPES = [(4, 4), (8, 8), (8, 8)]
G = SimpleNamespace(num_ws=NUM_WS, w_dim=W_DIM, synthesis=SimpleNamespace(noise_shapes=lambda: NOISE_SHAPES))


@pytest.fixture
def w():
    return np.random.default_rng(0).standard_normal([NUM_WS, W_DIM]).astype(np.float32)


def noise_maps(seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for shape in NOISE_SHAPES]


@pytest.mark.parametrize("layout", ["wplus", "batched", "w", "w_1"])
def test_npy_layouts(tmp_path, w, layout):
    array = {"wplus": w, "batched": w[None], "w": w[0], "w_1": w[:1]}[layout]
    np.save(tmp_path / "a.npy", array.astype(np.float64))
    latent = load_latent(tmp_path / "a.npy", G)
    expected = w if layout in ("wplus", "batched") else np.repeat(w[:1], NUM_WS, axis=0)
    assert latent.w.dtype == np.float32 and latent.w.shape == (NUM_WS, W_DIM)
    np.testing.assert_array_equal(latent.w, expected)
    assert latent.noise is None


def test_projector_npz(tmp_path, w):
    np.savez(tmp_path / "projected_w.npz", w=w[None])
    np.testing.assert_array_equal(load_latent(tmp_path / "projected_w.npz", G).w, w)


def test_npz_without_w_lists_its_keys(tmp_path, w):
    np.savez(tmp_path / "x.npz", latent=w, other=w)
    with pytest.raises(LatentError, match=r"has no array 'w' \(arrays found: latent, other\)"):
        load_latent(tmp_path / "x.npz", G)


@pytest.mark.parametrize("shape", [[3, 6], [4, 5], [2, 4, 6], [1, 4, 6, 1], [7]])
def test_wrong_shape_quotes_found_and_expected(tmp_path, shape):
    np.save(tmp_path / "a.npy", np.zeros(shape, np.float32))
    with pytest.raises(LatentError) as info:
        load_latent(tmp_path / "a.npy", G)
    message = str(info.value)
    assert f"has shape {shape}" in message
    assert "expects [4, 6] (W+), [1, 4, 6] or [6] (W)" in message


def test_nan_refused_with_position(tmp_path, w):
    w[2, 3] = np.nan
    np.save(tmp_path / "a.npy", w)
    with pytest.raises(LatentError, match=r"1 non-finite value\(s\) \(NaN or inf\), the first at index \[2, 3\]"):
        load_latent(tmp_path / "a.npy", G)


def test_inf_refused(tmp_path, w):
    np.save(tmp_path / "a.npy", np.full_like(w, np.inf))
    with pytest.raises(LatentError, match="24 non-finite"):
        load_latent(tmp_path / "a.npy", G)


def test_pickled_object_refused(tmp_path):
    array = np.empty(2, dtype=object)
    array[0], array[1] = {"evil": 1}, [1, 2]
    np.save(tmp_path / "obj.npy", array, allow_pickle=True)
    with pytest.raises(LatentError, match="pickled Python objects, which are refused"):
        load_latent(tmp_path / "obj.npy", G)


def test_raw_pickle_refused(tmp_path):
    import pickle

    (tmp_path / "p.npy").write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    with pytest.raises(LatentError, match="pickled Python objects"):
        load_latent(tmp_path / "p.npy", G)


def test_corrupt_and_truncated_files(tmp_path, w):
    (tmp_path / "junk.npy").write_bytes(b"not a numpy file at all")
    with pytest.raises(LatentError, match="cannot read latent file .*junk.npy"):
        load_latent(tmp_path / "junk.npy", G)
    np.save(tmp_path / "full.npy", w)
    (tmp_path / "cut.npy").write_bytes((tmp_path / "full.npy").read_bytes()[:100])
    with pytest.raises(LatentError, match="cannot read latent file .*cut.npy"):
        load_latent(tmp_path / "cut.npy", G)
    np.savez(tmp_path / "full.npz", w=w)
    (tmp_path / "cut.npz").write_bytes((tmp_path / "full.npz").read_bytes()[:60])
    with pytest.raises(LatentError, match="cannot read latent file .*cut.npz"):
        load_latent(tmp_path / "cut.npz", G)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(LatentError, match="latent file not found: .*nope.npy"):
        load_latent(tmp_path / "nope.npy", G)
    with pytest.raises(LatentError, match="got a directory"):
        load_latent(tmp_path, G)


def test_non_float_dtype_refused(tmp_path):
    np.save(tmp_path / "s.npy", np.array(["a", "b"]))
    with pytest.raises(LatentError, match="holds <U1 data; expected a float array"):
        load_latent(tmp_path / "s.npy", G)


def test_save_and_load_round_trip_with_noise(tmp_path, w):
    noise = noise_maps()
    written = save_latent(tmp_path / "x.npy", w, noise)
    assert written == [tmp_path / "x.npy", tmp_path / "x_noise.npz"]
    latent = load_latent(tmp_path / "x.npy", G)
    np.testing.assert_array_equal(latent.w, w)
    assert len(latent.noise) == 3
    for got, expected in zip(latent.noise, noise):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)
    with np.load(tmp_path / "x_noise.npz") as raw:  # the projector's layout: noise_i [r, r]
        assert sorted(raw.files) == ["noise_0", "noise_1", "noise_2"]
        assert raw["noise_1"].shape == (8, 8)
    assert load_latent(tmp_path / "x.npy", G, with_noise=False).noise is None


def test_save_without_noise_removes_stale_noise_file(tmp_path, w):
    save_latent(tmp_path / "x.npy", w, noise_maps())
    save_latent(tmp_path / "x.npy", w * 2)
    assert not noise_path_for(tmp_path / "x.npy").exists()
    assert load_latent(tmp_path / "x.npy", G).noise is None


def test_save_refuses_bad_latents_and_writes_nothing(tmp_path, w):
    bad = w.copy()
    bad[0, 0] = np.nan
    with pytest.raises(LatentError, match="non-finite"):
        save_latent(tmp_path / "x.npy", bad)
    with pytest.raises(LatentError, match=r"must be \[num_ws, w_dim\]; got shape \[6\]"):
        save_latent(tmp_path / "x.npy", w[0])
    with pytest.raises(LatentError, match="must end in .npy"):
        save_latent(tmp_path / "x.npz", w)
    assert list(tmp_path.iterdir()) == []


def test_latent_paths():
    assert [p.name for p in latent_paths("out/a_b_morph.npy")] == ["a_b_morph.npy", "a_b_morph_noise.npz",
                                                                   "a_b_morph.json"]


def test_save_latent_writes_the_record_and_removes_a_stale_one(tmp_path):
    import json

    from invert.checkpoints import load_generator
    from invert.records import latent_record, read_record

    G = load_generator("random:32")
    w = np.random.default_rng(0).standard_normal([G.num_ws, G.w_dim]).astype(np.float32)
    record = latent_record(G, generator_spec="random:32", command="test", inputs=["x.png"])
    written = save_latent(tmp_path / "x.npy", w, noise_maps(), record=record)
    assert written == [tmp_path / "x.npy", tmp_path / "x_noise.npz", tmp_path / "x.json"]
    read = read_record(tmp_path / "x.npy")
    assert read.spec == "random:32" and read.fingerprint == G.source["fingerprint"] and read.command == "test"
    assert read.data["latent"] == "x.npy" and read.data["shape"] == [G.num_ws, G.w_dim]
    # a latent written without a record must not keep the old one (it may be another generator's)
    assert save_latent(tmp_path / "x.npy", w) == [tmp_path / "x.npy"]
    assert not (tmp_path / "x.json").exists() and read_record(tmp_path / "x.npy") is None
    # a JSON file beside a latent that is not a record is someone else's: left alone, and not a record
    (tmp_path / "x.json").write_text(json.dumps({"smile": 1}))
    save_latent(tmp_path / "x.npy", w)
    assert json.loads((tmp_path / "x.json").read_text()) == {"smile": 1}
    assert read_record(tmp_path / "x.npy") is None


def test_noise_wrong_count(tmp_path):
    maps = noise_maps()
    np.savez(tmp_path / "n.npz", noise_0=maps[0], noise_1=maps[1])
    with pytest.raises(LatentError, match=r"has 2 noise maps \(keys noise_0, noise_1\); this generator takes 3 "
                                          r"\(noise_0 ... noise_2\)"):
        load_noise(tmp_path / "n.npz", noise_shapes=NOISE_SHAPES)


def test_noise_wrong_shape(tmp_path):
    maps = noise_maps()
    maps[2] = np.zeros([16, 16], np.float32)
    np.savez(tmp_path / "n.npz", **{f"noise_{i}": m for i, m in enumerate(maps)})
    with pytest.raises(LatentError, match=r"noise_2 in .* has shape \[16, 16\]; this generator expects \[8, 8\]"):
        load_noise(tmp_path / "n.npz", noise_shapes=NOISE_SHAPES)


def test_noise_network_layout_accepted(tmp_path):
    maps = noise_maps()
    np.savez(tmp_path / "n.npz", **{f"noise_{i}": m[None, None] for i, m in enumerate(maps)})
    for got, expected in zip(load_noise(tmp_path / "n.npz", noise_shapes=NOISE_SHAPES), maps):
        np.testing.assert_array_equal(got, expected)


def test_noise_nan_refused_through_load_latent(tmp_path, w):
    maps = noise_maps()
    maps[1][3, 3] = np.nan
    save_npz = {f"noise_{i}": m for i, m in enumerate(maps)}
    np.save(tmp_path / "a.npy", w)
    np.savez(tmp_path / "a_noise.npz", **save_npz)
    with pytest.raises(LatentError, match=r"noise_1 in .*a_noise.npz contains 1 non-finite"):
        load_latent(tmp_path / "a.npy", G)


def test_latent_stack(tmp_path):
    rng = np.random.default_rng(0)
    for shape in ([10, W_DIM], [10, NUM_WS, W_DIM]):
        np.save(tmp_path / "s.npy", rng.standard_normal(shape))
        stack = load_latent_stack(tmp_path / "s.npy", num_ws=NUM_WS, w_dim=W_DIM)
        assert stack.shape == tuple(shape) and stack.dtype == np.float32
    np.save(tmp_path / "s.npy", rng.standard_normal([10, 5]))
    with pytest.raises(LatentError, match=r"have shape \[10, 5\]; expected \[N, 6\] \(W\) or \[N, 4, 6\] \(W\+\)"):
        load_latent_stack(tmp_path / "s.npy", num_ws=NUM_WS, w_dim=W_DIM)


def test_read_array_other_key(tmp_path, w):
    np.savez(tmp_path / "b.npz", boundary=w[0])
    np.testing.assert_array_equal(read_array(tmp_path / "b.npz", what="boundary", key="boundary"), w[0])


def _header_only(path, shape, *, dtype="<f4", data=b""):
    """A .npy file whose header announces `shape` but which holds only `data` after it."""
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": dtype, "fortran_order": False, "shape": shape})
        handle.write(data)
    return path


def test_a_huge_array_is_refused_from_its_header_without_loading(tmp_path):
    """A header claiming [1024, 1024, 1024] float32 (4 GiB): refused at once, with the shape, nothing allocated."""
    import time
    import tracemalloc
    import zipfile

    npy = _header_only(tmp_path / "huge.npy", (1024, 1024, 1024), data=b"\0" * 4096)
    npz = tmp_path / "huge.npz"
    with zipfile.ZipFile(npz, "w") as archive:  # what np.savez would write, had it 4 GiB to write
        archive.writestr("w.npy", npy.read_bytes())
        archive.writestr("noise_0.npy", npy.read_bytes())
    expected = r"holds an array of shape \[1024, 1024, 1024\] \(4.0 GiB\), more than the 1.0 GiB .*; it was not loaded"
    for call in (lambda: load_latent(npy, G), lambda: load_latent(npz, G),
                 lambda: load_latent_stack(npy, num_ws=NUM_WS, w_dim=W_DIM),
                 lambda: load_noise(npz, noise_shapes=[(1024, 1024)])):
        tracemalloc.start()
        started = time.perf_counter()
        with pytest.raises(LatentError, match=expected):
            call()
        elapsed, peak = time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert elapsed < 1 and peak < 1 << 20, (elapsed, peak)


def test_shapes_are_checked_before_the_data_and_a_cut_file_is_named(tmp_path):
    # a wrong shape is refused from the header, whatever follows it
    wrong = _header_only(tmp_path / "wrong.npy", (7, 6))
    with pytest.raises(LatentError, match=r"has shape \[7, 6\]; this generator expects \[4, 6\] \(W\+\)"):
        load_latent(wrong, G)
    cut = _header_only(tmp_path / "cut.npy", (4, 6), data=b"\0" * 40)
    with pytest.raises(LatentError, match=r"cannot read latent file .*cut.npy: it is cut short \(its header announces "
                                          r"shape \[4, 6\], 224 bytes with the header; the file holds 168 bytes\)"):
        load_latent(cut, G)
    np.savez(tmp_path / "noise.npz", noise_0=np.zeros((4, 4)), noise_1=np.zeros((8, 8)), noise_2=np.zeros((9, 9)))
    with pytest.raises(LatentError, match=r"noise_2 in .* has shape \[9, 9\]; this generator expects \[8, 8\]"):
        load_noise(tmp_path / "noise.npz", noise_shapes=NOISE_SHAPES)
    with pytest.raises(LatentError, match=r"latents .* have shape \[7, 6\]; expected \[N, 6\] \(W\)|hold no codes"):
        load_latent_stack(_header_only(tmp_path / "none.npy", (0, 6)), num_ws=NUM_WS, w_dim=W_DIM)
    assert read_array(_header_only(tmp_path / "tiny.npy", (2,), data=b"\0" * 8), max_bytes=8).shape == (2,)
    with pytest.raises(LatentError, match=r"shape \[3\] \(12 bytes\), more than the 8 bytes"):
        read_array(_header_only(tmp_path / "big.npy", (3,), data=b"\0" * 12), max_bytes=8)
