"""ThreeConvNet's options do what they say."""

import pytest
import torch
import torch.nn as nn

import lab_utils as lu


@pytest.mark.parametrize("preset", ["wide", "small"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"batch_norm": True},
        {"dropout": 0.3},
        {"dense": True},
        {"bias": False},
        {"dense": True, "batch_norm": True, "bias": False},
    ],
)
def test_every_option_gives_logits_of_the_right_shape(preset, options):
    model = lu.ThreeConvNet(lu.three_conv_config(preset, **options))
    assert model(torch.randn(4, 3, 32, 32)).shape == (4, 10)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 3


def test_presets_match_the_reports():
    wide = lu.ThreeConvNet(lu.PRESETS["wide"])
    assert [c.out_channels for c in wide.convs] == [256, 128, 64]
    linears = [m for m in wide.modules() if isinstance(m, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (1024, 512),
        (512, 128),
        (128, 10),
    ]
    small = lu.ThreeConvNet(lu.PRESETS["small"])
    assert [c.out_channels for c in small.convs] == [16, 32, 64]
    linears = [m for m in small.modules() if isinstance(m, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [
        (1024, 500),
        (500, 10),
    ]


def test_dense_convs_see_the_image_and_every_earlier_conv():
    model = lu.ThreeConvNet(lu.three_conv_config("small", dense=True))
    assert [c.in_channels for c in model.convs] == [3, 3 + 16, 3 + 16 + 32]
    first = [m for m in model.modules() if isinstance(m, nn.Linear)][0]
    assert first.in_features == (3 + 16 + 32 + 64) * 4 * 4
    # With every conv silenced, only the dense skip path carries the image
    # to the classifier: the plain net's output no longer depends on it.
    x1, x2 = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    for dense in (True, False):
        net = lu.ThreeConvNet(lu.three_conv_config("small", dense=dense))
        for conv in net.convs:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        net.eval()
        differs = not torch.allclose(net(x1), net(x2))
        assert differs == dense


def test_no_bias_really_has_no_bias_parameters():
    model = lu.ThreeConvNet(lu.three_conv_config("wide", bias=False))
    assert not [n for n, _ in model.named_parameters() if "bias" in n]
    assert all(
        m.bias is None
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    )
    with_bn = lu.ThreeConvNet(
        lu.three_conv_config("small", bias=False, batch_norm=True)
    )
    biases = [n for n, _ in with_bn.named_parameters() if "bias" in n]
    assert biases and all(n.startswith(("norms", "hidden")) for n in biases)
    assert lu.count_parameters(with_bn) < lu.count_parameters(
        lu.ThreeConvNet(lu.three_conv_config("small", batch_norm=True))
    )


def test_batch_norm_and_dropout_layers_are_where_promised():
    model = lu.ThreeConvNet(
        lu.three_conv_config("wide", batch_norm=True, dropout=0.2)
    )
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 3
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 2
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 2 and all(d.p == 0.2 for d in drops)
    x = torch.rand(8, 3, 32, 32)
    model.train()
    assert not torch.equal(model(x), model(x))  # dropout is random
    model.eval()
    assert torch.equal(model(x), model(x))


def test_summary_counts_every_parameter():
    model = lu.ThreeConvNet(lu.three_conv_config("small", batch_norm=True))
    table = lu.summarize(model, (3, 32, 32))
    assert table["parameters"].sum() == lu.count_parameters(model)
    assert table.iloc[-1]["output shape"] == (10,)
    assert model.training  # summarize restores the mode


def test_typos_in_options_are_explained():
    with pytest.raises(ValueError, match="no option.*batchnorm.*Options"):
        lu.three_conv_config("small", batchnorm=True)
    with pytest.raises(ValueError, match="Unknown preset 'tiny'"):
        lu.three_conv_config("tiny")
    with pytest.raises(ValueError, match="dropout must be in"):
        lu.ThreeConvNet(lu.three_conv_config("small", dropout=1.5))
