"""VGG16 feature extractor: torchvision's layer indices and names, strict loading, where weights come from."""
import os
import pickle
from pathlib import Path

import pytest
import torch

from invert.errors import WeightsError
from invert.networks import vgg16
from numerics import assert_close_to_scale


@pytest.fixture(scope="module")
def state():
    return vgg16.random_state(7)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory, state):
    """A torchvision-layout file: every `features` tensor (random) plus classifier tensors to be ignored."""
    path = tmp_path_factory.mktemp("vgg") / vgg16.TORCHVISION_FILENAME
    full = {key: value.clone() for key, value in state.items()}
    full["classifier.0.weight"] = torch.randn(8, 4)
    full["classifier.0.bias"] = torch.randn(8)
    torch.save(full, path)
    return path


@pytest.mark.numerics
def test_layer_indices_are_torchvisions(state):
    tv_vgg = pytest.importorskip("torchvision.models.vgg")
    reference = tv_vgg.make_layers(tv_vgg.cfgs["D"]).eval()  # what torchvision.models.vgg16().features is
    reference.load_state_dict({key[len("features."):]: value for key, value in state.items()})
    net = vgg16.build_features(state, layers=tuple(vgg16.LAYER_INDEX))
    assert vgg16.FEATURE_SHAPES == {f"features.{k}": tuple(v.shape) for k, v in reference.state_dict().items()}
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    x = ((images + 1) / 2 - torch.tensor(vgg16.IMAGENET_MEAN).view(1, 3, 1, 1)) \
        / torch.tensor(vgg16.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        outputs = dict(zip(net.layers, net(images)))
        for index, module in enumerate(reference):
            x = module(x)
            names = [name for name, i in vgg16.LAYER_INDEX.items() if i == index]
            if names:
                assert isinstance(module, torch.nn.ReLU), names
                # torchvision's modules against ours: the same operations, rounding relative to the features' size
                assert_close_to_scale(outputs[names[0]], x, rtol=1e-5)
    assert len(outputs) == 13


def test_image2stylegan_layers_and_cut():
    assert [vgg16.LAYER_INDEX[n] for n in vgg16.IMAGE2STYLEGAN_LAYERS] == [1, 3, 13, 20]
    net = vgg16.VGG16Features()
    assert len(net.features) == 21  # nothing past conv4_2's ReLU
    assert sorted(net.state_dict()) == sorted(vgg16.needed_keys(20))
    assert net.state_dict()["features.19.weight"].shape == (512, 512, 3, 3)
    shapes = [f.shape for f in net(torch.zeros(1, 3, 32, 32))]
    assert shapes == [(1, 64, 32, 32), (1, 64, 32, 32), (1, 256, 8, 8), (1, 512, 4, 4)]


def test_unknown_layer_and_bad_input():
    with pytest.raises(ValueError, match="conv9_9"):
        vgg16.VGG16Features(("conv9_9",))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        vgg16.VGG16Features()(torch.zeros(1, 1, 8, 8))


def test_random_state_is_seeded_and_torchvision_shaped():
    a, b, c = vgg16.random_state(1), vgg16.random_state(1), vgg16.random_state(2)
    assert {k: tuple(v.shape) for k, v in a.items()} == vgg16.FEATURE_SHAPES
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["features.0.weight"], c["features.0.weight"])
    std = a["features.19.weight"].std().item()
    assert std == pytest.approx((2 / (512 * 9)) ** 0.5, rel=0.05)  # kaiming normal, fan_out


def test_reads_a_torchvision_file_strictly(weights_file, state):
    read = vgg16.read_state(weights_file)
    assert not any(key.startswith("classifier") for key in read)
    net = vgg16.build_features(read, info={"source": str(weights_file), "random": False})
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key])
    assert net.source["source"] == str(weights_file)
    assert not any(p.requires_grad for p in net.parameters()) and not net.training


def test_wrong_shape_unexpected_key_and_missing_tensor(tmp_path, state):
    bad = dict(state, **{"features.19.weight": torch.zeros(512, 256, 3, 3)})
    torch.save(bad, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match=r"features\.19\.weight has shape \[512, 256, 3, 3\], expected \[512, 512, 3, 3\]"):
        vgg16.read_state(tmp_path / "shape.pth")

    torch.save(dict(state, **{"fc.weight": torch.zeros(2)}), tmp_path / "extra.pth")
    with pytest.raises(WeightsError, match="not a torchvision VGG16 state dict: unexpected tensor 'fc.weight'"):
        vgg16.read_state(tmp_path / "extra.pth")

    partial = {k: v for k, v in state.items() if int(k.split(".")[1]) <= 17}
    torch.save(partial, tmp_path / "partial.pth")
    read = vgg16.read_state(tmp_path / "partial.pth")
    with pytest.raises(WeightsError, match=r"lacks features\.19\.weight"):
        vgg16.build_features(read, info={"source": "partial.pth"})
    vgg16.build_features(read, layers=("conv1_1", "conv3_2"))  # enough for shallower layers

    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match="not a torchvision VGG16 state dict"):
        vgg16.read_state(tmp_path / "list.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="cannot read VGG16 weights"):
        vgg16.read_state(tmp_path / "junk.pth")


class _Evil:
    def __reduce__(self):
        return (print, ("executed",))


def test_refuses_pickled_code(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": _Evil()}, path, pickle_module=pickle)
    with pytest.raises(WeightsError, match="cannot read VGG16 weights"):
        vgg16.read_state(path)
    assert "executed" not in capsys.readouterr().out


def test_source_order(tmp_path, monkeypatch, weights_file):
    from invert import weights

    calls = []
    monkeypatch.setattr(weights, "resolve", lambda name, **kw: calls.append(name) or weights_file)
    # an explicit path wins
    assert vgg16.find_weights(str(weights_file)) == weights_file
    # nothing in the hub cache: the registry is asked
    assert vgg16.find_weights(None) == weights_file and calls == ["vgg16"]
    # torchvision's hub cache ($TORCH_HOME, set per test by conftest) comes before the registry
    hub = vgg16.hub_checkpoint_path()
    assert hub == Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / "vgg16-397923af.pth"
    hub.parent.mkdir(parents=True)
    hub.write_bytes(weights_file.read_bytes())
    assert vgg16.find_weights("auto") == hub and calls == ["vgg16"]
    assert vgg16.find_weights("random:3") == "random:3"


def test_no_weights_offline_is_one_clear_error(monkeypatch):
    from invert import weights

    def offline(name, **kwargs):
        raise WeightsError("could not download https://download.pytorch.org/models/vgg16-397923af.pth")

    monkeypatch.setattr(weights, "resolve", offline)
    with pytest.raises(WeightsError) as info:
        vgg16.load_state(None)
    message = str(info.value)
    assert str(vgg16.hub_checkpoint_path()) in message and "--vgg-weights" in message
    assert "random" not in message.lower().split("could not download")[0]  # never falls back to random
    with pytest.raises(WeightsError, match="not found"):
        vgg16.find_weights("/no/such/vgg16.pth")


def test_load_vgg16_random_is_loud(caplog):
    with caplog.at_level("WARNING"):
        net = vgg16.load_vgg16("random:5", layers=("conv1_1",))
    assert net.source == {"source": "random:5", "random": True}
    assert "RANDOM" in caplog.text
    assert torch.equal(net.features[0].weight, vgg16.random_state(5)["features.0.weight"])
