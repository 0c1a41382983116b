"""Hostile, corrupt and wrong files are refused with one clear error, and nothing in them ever runs."""
import io
import pickle
import struct

import pytest
import torch
from click.testing import CliRunner

from invert.checkpoints import load_generator
from invert.checkpoints.unpickler import restricted_load
from invert.cli import main
from invert.errors import CheckpointError, UnsafePickleError


def _str(s):
    data = s.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _bytes(b):
    return b"B" + struct.pack("<I", len(b)) + b


def _global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _call(module, name, *string_args):
    """Opcodes for module.name(*string_args) via REDUCE."""
    return _global(module, name) + b"(" + b"".join(_str(a) for a in string_args) + b"tR"


def _wrap_in_snapshot(value_opcodes):
    """{'G_ema': <value>} as a protocol-2 pickle."""
    return b"\x80\x02}(" + _str("G_ema") + value_opcodes + b"u."


def _touch(sentinel):
    return f"python3 -c \"open('{sentinel}', 'w').write('pwned')\""


def hostile_payloads(sentinel):
    code = f"open({str(sentinel)!r}, 'w').write('pwned')"
    return {
        "os.system": _wrap_in_snapshot(_call("os", "system", _touch(sentinel))),
        "posix.system": _wrap_in_snapshot(_call("posix", "system", _touch(sentinel))),
        "subprocess.Popen": _wrap_in_snapshot(
            _global("subprocess", "Popen") + b"((" + _str("sh") + _str("-c") + _str(f"touch {sentinel}")
            + b"ltR"),
        "builtins.eval": _wrap_in_snapshot(_call("builtins", "eval", code)),
        "builtins.exec": _wrap_in_snapshot(_call("builtins", "exec", code)),
        "nested in a tensor storage": _wrap_in_snapshot(
            _global("torch._utils", "_rebuild_tensor_v2") + b"("
            + _global("torch.storage", "_load_from_bytes") + b"(" + _bytes(
                b"\x80\x02" + _call("os", "system", _touch(sentinel)) + b".") + b"tR"
            + b"K\x00(K\x01tK\x01(tK\x00" + _global("collections", "OrderedDict") + b")R" + b"tR"),
        "exec through module_src": _wrap_in_snapshot(
            _global("torch_utils.persistence", "_reconstruct_persistent_obj") + b"(}("
            + _str("type") + _str("class") + _str("version") + b"K\x06" + _str("module_src") + _str(code)
            + _str("class_name") + _str("Generator") + _str("state") + b"}" + b"utR"),
    }


@pytest.mark.parametrize("name", ["os.system", "posix.system", "subprocess.Popen", "builtins.eval",
                                  "builtins.exec", "nested in a tensor storage", "exec through module_src"])
def test_hostile_pickle_refused_and_never_run(tmp_path, name):
    sentinel = tmp_path / "SENTINEL"
    path = tmp_path / "evil.pkl"
    path.write_bytes(hostile_payloads(sentinel)[name])
    with pytest.raises(CheckpointError) as info:
        load_generator(path)
    message = str(info.value)
    if name in ("os.system", "posix.system", "subprocess.Popen", "builtins.eval", "builtins.exec"):
        assert isinstance(info.value, UnsafePickleError)
        assert name.split(".")[0] in message and "not an allowed" in message
    elif name == "nested in a tensor storage":
        assert "refused a tensor storage" in message and "os.system" in message
    else:
        assert "not a StyleGAN2 generator" in message
    assert not sentinel.exists()
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("Error: evil.pkl: ")
    assert not sentinel.exists()


def test_hostile_pickle_with_protocol_4_stack_global(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return os.system, (_touch(tmp_path / "S"),)

    data = pickle.dumps({"G_ema": Evil()}, protocol=4)
    with pytest.raises(UnsafePickleError, match=r"(posix|os)\.system"):
        restricted_load(io.BytesIO(data))
    assert not (tmp_path / "S").exists()


def test_hostile_torch_file_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return os.system, (_touch(tmp_path / "S"),)

    path = tmp_path / "evil.pt"
    torch.save({"g_ema": Evil()}, path)
    with pytest.raises(CheckpointError, match=r"refused to load this torch file: it asks for (posix|os)\.system, "
                       "which is not tensor data; nothing was executed") as info:
        load_generator(path)
    assert "weights_only" not in str(info.value)  # never torch's advice to load it unrestricted
    assert not (tmp_path / "S").exists()
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 1 and "system" in result.stderr and "weights_only" not in result.stderr


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.99])
@pytest.mark.parametrize("filename", ["tiny_ada.pkl", "tiny_tf.pkl", "tiny_rosinality.pt"])
def test_truncated_files_give_one_line_errors(sg2_dir, tmp_path, filename, fraction):
    data = (sg2_dir / filename).read_bytes()
    path = tmp_path / filename
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CheckpointError):
        load_generator(path)
    result = CliRunner().invoke(main, ["info", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {filename}: ") and result.output.count("\n") == 1


def test_wrong_files(sg2_dir, tmp_path):
    cases = {
        "notes.txt": (b"hello", "neither a pickle nor a torch file"),
        "expected.npz": ((sg2_dir / "tiny_expected.npz").read_bytes(), "not a torch checkpoint"),
        "list.pkl": (pickle.dumps([1, 2, 3], protocol=2), "not a recognised StyleGAN2 checkpoint"),
        "empty.pkl": (b"", "empty file"),
    }
    for filename, (data, message) in cases.items():
        path = tmp_path / filename
        path.write_bytes(data)
        with pytest.raises(CheckpointError, match=message):
            load_generator(path)
    with pytest.raises(CheckpointError, match="no checkpoint file or registry name"):
        load_generator(tmp_path / "missing.pkl")
    with pytest.raises(CheckpointError, match="got a directory"):
        load_generator(tmp_path)


def _rosinality_variant(sg2_dir, tmp_path, edit):
    state = torch.load(sg2_dir / "tiny_rosinality.pt", weights_only=True)
    edit(state["g_ema"])
    path = tmp_path / "variant.pt"
    torch.save(state, path)
    return path


def test_renamed_tensor_refused_by_name(sg2_dir, tmp_path):
    path = _rosinality_variant(sg2_dir, tmp_path,
                               lambda g: g.__setitem__("convs.0.conv.modulation.weight_x",
                                                       g.pop("convs.0.conv.modulation.weight")))
    with pytest.raises(CheckpointError, match=r"unexpected tensor convs\.0\.conv\.modulation\.weight_x \[32, 512\]"):
        load_generator(path)


def test_missing_tensor_refused_by_name(sg2_dir, tmp_path):
    path = _rosinality_variant(sg2_dir, tmp_path, lambda g: g.pop("to_rgbs.1.bias"))
    with pytest.raises(CheckpointError, match=r"missing tensor synthesis\.b16\.torgb\.bias \[3\]"):
        load_generator(path)


def test_wrong_shape_refused_by_name(sg2_dir, tmp_path):
    path = _rosinality_variant(sg2_dir, tmp_path,
                               lambda g: g.__setitem__("convs.2.activate.bias", torch.zeros(7)))
    with pytest.raises(CheckpointError, match=r"synthesis\.b16\.conv0\.bias has shape \[7\], expected \[32\]"):
        load_generator(path)


def test_extra_tensor_refused(sg2_dir, tmp_path):
    path = _rosinality_variant(sg2_dir, tmp_path, lambda g: g.__setitem__("extra.weight", torch.zeros(4, 4)))
    with pytest.raises(CheckpointError, match=r"unexpected tensor extra\.weight \[4, 4\]"):
        load_generator(path)
    # a ninth mapping layer without its bias is an incomplete network, not a silently shorter one
    path = _rosinality_variant(sg2_dir, tmp_path, lambda g: g.__setitem__("style.9.weight", torch.zeros(512, 512)))
    with pytest.raises(CheckpointError, match=r"missing tensor mapping\.fc8\.bias \[512\]"):
        load_generator(path)


def test_nan_weights_refused(sg2_dir, tmp_path):
    def poison(g):
        g["conv1.conv.weight"][0, 0, 0, 0, 0] = float("nan")

    with pytest.raises(CheckpointError, match=r"synthesis\.b4\.conv1\.weight contains NaN"):
        load_generator(_rosinality_variant(sg2_dir, tmp_path, poison))
