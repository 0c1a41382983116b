"""VGG16 feature extractor: torchvision's network and layer indices, taps, strict state-dict checks."""
import pytest
import torch

from invert.errors import WeightsError
from invert.networks import vgg16
from invert.vgg_weights import random_state
from numerics import assert_close_to_scale


@pytest.fixture(scope="module")
def state():
    return random_state(7)


@pytest.mark.numerics
def test_taps_are_torchvisions_post_relu_activations(state):
    from torchvision.models import vgg16 as torchvision_vgg16

    reference = torchvision_vgg16(weights=None).features.eval()
    reference.load_state_dict({key[len("features."):]: value for key, value in state.items()})
    net = vgg16.build_features(state, layers=tuple(vgg16.LAYER_INDEX))
    assert vgg16.feature_shapes() == {f"features.{k}": tuple(v.shape) for k, v in reference.state_dict().items()}
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


def test_image2stylegan_layers_and_cut(state):
    assert [vgg16.LAYER_INDEX[n] for n in vgg16.IMAGE2STYLEGAN_LAYERS] == [1, 3, 13, 20]
    net = vgg16.build_features(state)
    assert len(net.features) == 21  # nothing past conv4_2's ReLU
    assert sorted(net.state_dict()) == sorted(vgg16.needed_keys(20))
    assert net.state_dict()["features.19.weight"].shape == (512, 512, 3, 3)
    assert not any(p.requires_grad for p in net.parameters()) and not net.training
    shapes = [f.shape for f in net(torch.zeros(1, 3, 32, 32))]
    assert shapes == [(1, 64, 32, 32), (1, 64, 32, 32), (1, 256, 8, 8), (1, 512, 4, 4)]


def test_unknown_layer_and_bad_input(state):
    with pytest.raises(ValueError, match="conv9_9"):
        vgg16.VGG16Features(("conv9_9",))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        vgg16.build_features(state)(torch.zeros(1, 1, 8, 8))


def test_check_state_keeps_features_and_names_what_is_wrong(state):
    full = dict(state, **{"classifier.0.weight": torch.zeros(8, 4)})
    assert set(vgg16.check_state(full)) == set(state)  # classifier tensors are dropped
    with pytest.raises(WeightsError, match=r"f\.pth: features\.19\.weight has shape \[512, 256, 3, 3\], "
                                           r"expected \[512, 512, 3, 3\]"):
        vgg16.check_state(dict(state, **{"features.19.weight": torch.zeros(512, 256, 3, 3)}), where="f.pth")
    with pytest.raises(WeightsError, match="not a torchvision VGG16 state dict: unexpected tensor 'fc.weight'"):
        vgg16.check_state(dict(state, **{"fc.weight": torch.zeros(2)}))
    with pytest.raises(WeightsError, match="holds a list, not a torchvision VGG16 state dict"):
        vgg16.check_state([1, 2])


def test_missing_tensor_is_named_only_when_a_layer_needs_it(state):
    partial = {k: v for k, v in state.items() if int(k.split(".")[1]) <= 17}
    with pytest.raises(WeightsError, match=r"partial\.pth lacks features\.19\.weight"):
        vgg16.build_features(partial, info={"source": "partial.pth"})
    vgg16.build_features(partial, layers=("conv1_1", "conv3_2"))  # enough for shallower layers
