"""invert.tuning.tuned_file: the `_tuned.safetensors` file round-trips, and wrong or hostile files are refused."""
import json
import os
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tuning_helpers import random_update

import invert
from invert.errors import TuningError
from invert.tuning import apply_update, describe_update, load_update, save_update, tuned_generator, tuned_path
from invert.tuning.tuned_file import FORMAT, FORMAT_VERSION
from invert.tuning.update import blend_updates


@pytest.fixture(scope="module")
def G(sg2_dir):
    return invert.load_generator(sg2_dir / "tiny_ada.pkl")


@pytest.fixture
def saved(G, tmp_path):
    update = random_update(G, 4, seed=1)
    return update, save_update(tmp_path / "face_tuned.safetensors", update)


def _metadata(G, **changes):
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "rank": "4", "fingerprint": G.source["fingerprint"],
            "source": "{}", "settings": "{}"}
    meta.update(changes)
    return meta


def test_tuned_path_sits_beside_the_latent():
    assert str(tuned_path("out/face.npy")) == os.path.join("out", "face_tuned.safetensors")


@pytest.mark.parametrize("rank", ["full", 1, 4])
def test_round_trip_is_bit_exact(G, tmp_path, rank):
    update = random_update(G, rank, seed=2)
    update.settings = {"steps": 350, "lr": 3e-4, "locality": None}
    path = save_update(tmp_path / "a_tuned.safetensors", update)
    loaded = load_update(path, G)
    assert list(loaded.tensors) == list(update.tensors)
    assert all(torch.equal(loaded.tensors[k], update.tensors[k]) for k in update.tensors)
    assert loaded.rank == rank and loaded.fingerprint == G.source["fingerprint"]
    assert loaded.source == update.source and loaded.settings == update.settings
    assert loaded.path == str(path) and update.path == str(path)


def test_tuned_generator_renders_through_the_file(G, saved):
    update, path = saved
    z = torch.randn([2, G.z_dim], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ws = G.mapping(z)
        expected = apply_update(G, update).synthesis(ws)
        tuned = tuned_generator(G, path)
        assert torch.equal(tuned.synthesis(ws), expected)
        assert tuned.source["tuned"] == {"file": str(path), "rank": 4, "scale": 1.0, "tensors": len(update.tensors)}
        assert torch.equal(tuned_generator(G, path, scale=0.0).synthesis(ws), G.synthesis(ws))


def test_save_writes_exactly_the_destination_and_nothing_else(G, tmp_path):
    folder = tmp_path / "new" / "folder"
    path = save_update(folder / "face_tuned.safetensors", random_update(G, 1))
    assert path == folder / "face_tuned.safetensors"
    assert sorted(p.name for p in folder.iterdir()) == ["face_tuned.safetensors"]  # no temporary file left
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    assert header["__metadata__"]["format"] == FORMAT and header["__metadata__"]["rank"] == "1"
    assert header["__metadata__"]["fingerprint"] == G.source["fingerprint"]
    assert json.loads(header["__metadata__"]["source"])["path"].endswith("tiny_ada.pkl")


def test_a_failed_save_leaves_no_file(G, tmp_path, monkeypatch):
    import safetensors.torch

    def fail(tensors, filename, *args, **kwargs):  # a writer that dies half-way through the file
        Path(filename).write_bytes(b"half")
        raise RuntimeError("simulated write failure")

    monkeypatch.setattr(safetensors.torch, "save_file", fail)
    with pytest.raises(RuntimeError, match="simulated write failure"):
        save_update(tmp_path / "x_tuned.safetensors", random_update(G, 4))
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_a_blend_and_a_directory(G, tmp_path):
    update = random_update(G, 4)
    with pytest.raises(TuningError, match="a blend of updates is for rendering"):
        save_update(tmp_path / "b_tuned.safetensors", blend_updates([(update, 0.5), (update, 0.5)]))
    with pytest.raises(TuningError, match="got a directory"):
        save_update(tmp_path, update)


def test_describe_update_reads_the_header(G, saved):
    update, path = saved
    info = describe_update(path)
    assert info["rank"] == 4 and info["fingerprint"] == G.source["fingerprint"]
    assert info["bytes"] == path.stat().st_size and info["values"] == update.num_values
    assert info["tensors"] == len(update.tensors) and info["entries"] == update.parameter_names
    # tiny: 11 modulated convs (b4: conv1 + torgb; b8..b32: conv0, conv1, torgb), 4 of them ToRGB;
    # at rank 4 the 7 conv layers are factored, the 4 ToRGB weights stored in full
    assert info["layers"] == 11 and info["torgb"] == 4 and info["factored"] == 7
    assert "tiny_ada.pkl" in info["base"] and G.source["fingerprint"][:12] in info["base"]
    assert info["settings"] == {"made_by": "tests"}


def test_a_file_for_another_network_is_refused_naming_both(G, tmp_path):
    other = invert.load_generator("random:32", verbose=False)
    path = save_update(tmp_path / "other_tuned.safetensors", random_update(other, 4))
    with pytest.raises(TuningError) as error:
        load_update(path, G)
    message = str(error.value)
    assert message.startswith("other_tuned.safetensors was tuned for random:32 (random, fingerprint ")
    assert other.source["fingerprint"][:12] in message and G.source["fingerprint"][:12] in message
    assert "tiny_ada.pkl" in message and "\n" not in message


class _Boom:
    """Unpickling this would create the marker file: proof that nothing is unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_renamed_safetensors_is_refused_without_running_it(G, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil_tuned.safetensors"
    path.write_bytes(pickle.dumps(_Boom(str(marker))))
    with pytest.raises(TuningError, match="is a pickle, not a safetensors file; refused without reading it"):
        load_update(path, G)
    with pytest.raises(TuningError, match="is a pickle"):
        describe_update(path)
    assert not marker.exists()


def test_a_torch_file_renamed_safetensors_is_refused(G, tmp_path):
    path = tmp_path / "model_tuned.safetensors"
    torch.save({"synthesis.b4.conv1.weight.delta": torch.zeros(3)}, path)
    with pytest.raises(TuningError, match=r"is a zip archive \(a torch .pt file\?\), not a safetensors file"):
        load_update(path, G)


def test_a_truncated_file_is_refused(G, saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut_tuned.safetensors"
    cut.write_bytes(data[:-100])
    with pytest.raises(TuningError, match="is truncated: .* needs bytes up to"):
        load_update(cut, G)
    cut.write_bytes(data[:5])
    with pytest.raises(TuningError, match=r"is truncated \(5 bytes\)"):
        load_update(cut, G)
    cut.write_bytes(data[:200])  # inside the header
    with pytest.raises(TuningError, match="header claims"):
        load_update(cut, G)


def test_a_header_with_absurd_sizes_is_refused(G, saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    bad = tmp_path / "huge_tuned.safetensors"
    bad.write_bytes(struct.pack("<Q", 1 << 60) + data[8:])
    with pytest.raises(TuningError, match=f"header claims {1 << 60:,} bytes, more than a tuned update's header can be"):
        load_update(bad, G)
    # a header whose tensor claims more data than its shape holds
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8: 8 + size])
    key = next(k for k in header if k != "__metadata__")
    header[key]["data_offsets"][1] += 1 << 40
    text = json.dumps(header).encode()
    bad.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + size:])
    with pytest.raises(TuningError, match=f"header sizes for {key} do not match its shape"):
        load_update(bad, G)


def test_garbage_and_foreign_safetensors_files_are_refused(G, tmp_path):
    path = tmp_path / "x_tuned.safetensors"
    path.write_bytes(struct.pack("<Q", 10) + b"not json!!" + b"\0" * 8)
    with pytest.raises(TuningError, match="unreadable safetensors header"):
        load_update(path, G)
    save_file({"weight": torch.zeros(3)}, str(path))  # a valid safetensors file, not ours
    with pytest.raises(TuningError, match="not a stylegan-invert tuned update"):
        load_update(path, G)
    save_file({"synthesis.b4.conv1.bias.delta": torch.zeros(32, dtype=torch.float16)}, str(path), metadata=_metadata(G))
    with pytest.raises(TuningError, match="is F16, expected float32"):
        load_update(path, G)
    save_file({"synthesis.b4.conv1.bias.delta": torch.zeros(32)}, str(path), metadata=_metadata(G, format_version="7"))
    with pytest.raises(TuningError, match="format version '7'; this stylegan-invert reads version 1: upgrade it"):
        load_update(path, G)
    save_file({"synthesis.b4.conv1.bias.delta": torch.zeros(32)}, str(path), metadata=_metadata(G, rank="lots"))
    with pytest.raises(TuningError, match="rank 'lots' in its metadata"):
        load_update(path, G)
    save_file({"synthesis.b4.conv1.bias.delta": torch.zeros(32)}, str(path), metadata=_metadata(G, fingerprint="x"))
    with pytest.raises(TuningError, match="no base-network fingerprint"):
        load_update(path, G)


def test_wrong_tensors_are_refused_by_name_shape_and_value(G, tmp_path):
    path = tmp_path / "x_tuned.safetensors"
    good = random_update(G, 4).tensors
    missing = {k: v for k, v in good.items() if k != "synthesis.b16.conv1.weight.delta_down"}
    save_file(missing, str(path), metadata=_metadata(G))
    with pytest.raises(TuningError, match="x_tuned.safetensors lacks 'synthesis.b16.conv1.weight.delta_down'"):
        load_update(path, G)
    save_file({**good, "synthesis.b4.const.delta": torch.zeros(32, 4, 4)}, str(path), metadata=_metadata(G))
    with pytest.raises(TuningError, match="holds 'synthesis.b4.const.delta', which an update of rank 4"):
        load_update(path, G)
    save_file(good, str(path), metadata=_metadata(G, rank="2"))
    with pytest.raises(TuningError, match="which an update of rank 2 for this generator does not have"):
        load_update(path, G)
    wrong = dict(good, **{"synthesis.b8.conv1.bias.delta": torch.zeros(31)})
    save_file(wrong, str(path), metadata=_metadata(G))
    with pytest.raises(TuningError, match=r"synthesis.b8.conv1.bias.delta is \[31\], this generator needs \[32\]"):
        load_update(path, G)
    bad = dict(good, **{"synthesis.b8.conv1.bias.delta": torch.full([32], float("inf"))})
    save_file(bad, str(path), metadata=_metadata(G))
    with pytest.raises(TuningError, match="holds NaN or infinite values"):
        load_update(path, G)


def test_missing_file_and_directory(G, tmp_path):
    with pytest.raises(TuningError, match="tuned update not found"):
        load_update(tmp_path / "nope_tuned.safetensors", G)
    with pytest.raises(TuningError, match="got a directory"):
        load_update(tmp_path, G)


@pytest.mark.parametrize("damage", ["dtype", "metadata"])
def test_a_header_with_values_of_the_wrong_kind_is_one_line(G, saved, tmp_path, damage):
    """What `info` reads too: a dtype that is not text, metadata values that are not strings."""
    from invert.tuning import describe_update

    _, path = saved
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8: 8 + size])
    if damage == "dtype":
        header[next(k for k in header if k != "__metadata__")]["dtype"] = []
    else:
        header["__metadata__"]["settings"] = {"steps": 3}
    text = json.dumps(header).encode()
    bad = tmp_path / "odd_tuned.safetensors"
    bad.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + size:])
    for reader in (lambda: load_update(bad, G), lambda: describe_update(bad)):
        with pytest.raises(TuningError, match="the file is corrupt|expected float32"):
            reader()
