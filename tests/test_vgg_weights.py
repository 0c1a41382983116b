"""Where VGG16 weights come from: the torch hub cache (torchvision's download), a user's file, random."""
import errno
import os
import pickle
from pathlib import Path
from urllib.error import URLError

import pytest
import torch

from invert import vgg_weights
from invert.errors import WeightsError
from invert.networks import vgg16


@pytest.fixture(scope="module")
def state():
    return vgg_weights.random_state(7)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, state):
    """A torchvision-layout file: every `features` tensor (random) plus classifier tensors to be ignored."""
    path = tmp_path_factory.mktemp("vgg") / vgg_weights.TORCHVISION_FILENAME
    full = {key: value.clone() for key, value in state.items()}
    full["classifier.0.weight"] = torch.randn(8, 4)
    torch.save(full, path)
    return path


def test_random_state_is_seeded_and_torchvision_shaped():
    a, b, c = vgg_weights.random_state(1), vgg_weights.random_state(1), vgg_weights.random_state(2)
    assert {k: tuple(v.shape) for k, v in a.items()} == vgg16.feature_shapes()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["features.0.weight"], c["features.0.weight"])
    std = a["features.19.weight"].std().item()
    assert std == pytest.approx((2 / (512 * 9)) ** 0.5, rel=0.05)  # kaiming normal, fan_out


def test_reads_a_torchvision_file(weights_file, state):
    read = vgg_weights.read_state(weights_file)
    assert set(read) == set(state) and all(torch.equal(read[k], state[k]) for k in state)
    state_, info = vgg_weights.load_state(str(weights_file))
    assert info == {"source": str(weights_file), "random": False}


def test_bad_files(tmp_path, state):
    torch.save(dict(state, **{"fc.weight": torch.zeros(2)}), tmp_path / "extra.pth")
    with pytest.raises(WeightsError, match=r"extra\.pth is not a torchvision VGG16 state dict"):
        vgg_weights.read_state(tmp_path / "extra.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="cannot read VGG16 weights"):
        vgg_weights.read_state(tmp_path / "junk.pth")
    with pytest.raises(WeightsError, match="not found"):
        vgg_weights.find_weights("/no/such/vgg16.pth")


class _Evil:
    def __reduce__(self):
        return (print, ("executed",))


def test_refuses_pickled_code_naming_it(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": _Evil()}, path, pickle_module=pickle)
    with pytest.raises(WeightsError, match=r"refused to read VGG16 weights .*evil\.pth: it asks for (builtins\.)?print"
                       ) as info:
        vgg_weights.read_state(path)
    assert "weights_only" not in str(info.value)
    assert "executed" not in capsys.readouterr().out


def test_source_order(tmp_path, monkeypatch, weights_file):
    downloads = []
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda url, **kw: downloads.append(url))
    hub = vgg_weights.hub_checkpoint_path()
    assert hub == Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / "vgg16-397923af.pth"
    # an explicit path wins
    assert vgg_weights.find_weights(str(weights_file)) == weights_file and downloads == []
    assert vgg_weights.find_weights("random:3") == "random:3"
    # nothing anywhere: torchvision's own file, downloaded by torch.hub into the hub cache
    assert vgg_weights.find_weights(None) == hub
    assert downloads == ["https://download.pytorch.org/models/vgg16-397923af.pth"]
    # an earlier version's download in our cache is used, not fetched again
    legacy = Path(os.environ["STYLEGAN_INVERT_HOME"]) / "vgg16-397923af.pth"
    legacy.write_bytes(weights_file.read_bytes())
    assert vgg_weights.find_weights("auto") == legacy and len(downloads) == 1
    # the hub cache comes first
    hub.parent.mkdir(parents=True, exist_ok=True)
    hub.write_bytes(weights_file.read_bytes())
    assert vgg_weights.find_weights(None) == hub and len(downloads) == 1
    with pytest.raises(WeightsError, match="VGG16 weights are missing"):
        hub.unlink(), legacy.unlink(), vgg_weights.find_weights(None, download=False)


@pytest.mark.parametrize("failure, reason", [
    (URLError("[Errno -3] Temporary failure in name resolution"), "this machine may be offline"),
    (OSError(errno.EROFS, "Read-only file system", "/cache/hub/checkpoints/x.partial"), "is not writable"),
])
def test_missing_weights_say_where_to_put_them(monkeypatch, failure, reason):
    def fails(url, **kwargs):
        raise failure

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fails)
    with pytest.raises(WeightsError) as info:
        vgg_weights.load_state(None)
    message = str(info.value)
    assert message.startswith("VGG16 weights are missing") and "\n" not in message
    assert f"put it at {vgg_weights.hub_checkpoint_path()}" in message and reason in message
    assert "Read-only file system" not in message and "--vgg-weights" not in message  # the CLI adds its flag
    assert "random" not in message.lower()  # never falls back to random weights


def test_load_vgg16_random_is_loud(caplog):
    with caplog.at_level("WARNING"):
        net = vgg_weights.load_vgg16("random:5", layers=("conv1_1",))
    assert net.source == {"source": "random:5", "random": True}
    assert "RANDOM" in caplog.text
    assert torch.equal(net.features[0].weight, vgg_weights.random_state(5)["features.0.weight"])


def test_networks_module_knows_no_files_or_registry():
    import ast

    tree = ast.parse(Path(vgg16.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"functools", "torch", "invert.errors", "torchvision.models"}, imported
