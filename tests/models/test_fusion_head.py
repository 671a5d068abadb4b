"""FusionNet's output heads: the mean-correction head, the learned per-pixel blend ("weights") and the blend of
base and detail layers ("two_scale")."""

from __future__ import annotations

import pytest
import torch

from fusionlab.errors import ConfigError
from fusionlab.models import FusionNet
from fusionlab.models.backbones import DenseCNN


@pytest.mark.parametrize("head", ["correction", "weights", "two_scale"])
def test_untrained_head_outputs_the_mean(head):
    torch.manual_seed(0)
    net = FusionNet(DenseCNN(width=4, layers=1), head=head, detail_prior=0.0).eval()  # the prior off: plain heads
    a, b = torch.rand(1, 1, 16, 16) * 0.8 + 0.1, torch.rand(1, 1, 16, 16) * 0.8 + 0.1
    with torch.no_grad():
        assert torch.allclose(net(a, b), 0.5 * (a + b), atol=0.02)
        assert torch.allclose(net.reconstruct(a), a, atol=0.02)


def test_weights_head_blends_the_sources_and_bounds_the_correction():
    torch.manual_seed(0)
    net = FusionNet(DenseCNN(width=4, layers=1), head="weights", max_correction=0.5).eval()
    with torch.no_grad():
        net.decoder.head[-1].weight.normal_(std=5.0)  # strong, arbitrary weights and correction
        net.decoder.head[-1].bias.copy_(torch.tensor([3.0, -3.0, 10.0]))
    a, b = torch.rand(1, 1, 16, 16) * 0.8 + 0.1, torch.rand(1, 1, 16, 16) * 0.8 + 0.1
    with torch.no_grad():
        out = net(a, b)
    lo, hi = torch.minimum(a, b).clamp(1e-3, 1 - 1e-3), torch.maximum(a, b).clamp(1e-3, 1 - 1e-3)
    # a blend in [lo, hi], moved by at most 0.5 in logit space
    assert (torch.logit(out) <= torch.logit(hi) + 0.5 + 1e-4).all()
    assert (torch.logit(out) >= torch.logit(lo) - 0.5 - 1e-4).all()


def test_two_scale_head_takes_base_and_detail_from_different_sources():
    """Base logits favouring a and detail logits favouring b give box(a) + (b - box(b)): brightness from one
    source, detail from the other, which one blend of whole images cannot express."""
    from fusionlab.models.fusion_net import box_mean

    torch.manual_seed(0)
    net = FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_radius=2).eval()
    with torch.no_grad():
        net.decoder.head[-1].weight.zero_()
        net.decoder.head[-1].bias.copy_(torch.tensor([30.0, -30.0, -30.0, 30.0, 0.0]))
    a = torch.full((1, 1, 16, 16), 0.7)
    b = 0.3 + 0.1 * torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        out = net(a, b)
    want = (box_mean(a, 2) + b - box_mean(b, 2)).clamp(1e-3, 1 - 1e-3)
    assert torch.allclose(out, want, atol=1e-4)


def test_detail_prior_follows_the_more_active_source():
    """Untrained, the two-scale head keeps the mean brightness but takes detail from the sharper source: on a
    multi-focus-like pair (b = blurred a) its output has more detail than the average, close to a's."""
    from fusionlab.models.fusion_net import box_mean

    torch.manual_seed(0)
    net = FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_radius=3, detail_prior=4.0).eval()
    a = 0.3 + 0.4 * torch.rand(1, 1, 32, 32)
    b = box_mean(a, 1)  # the same scene out of focus
    with torch.no_grad():
        out = net(a, b)
    detail = lambda x: (x - box_mean(x, 3)).pow(2).mean()  # noqa: E731
    assert detail(out) > 0.8 * detail(a) > detail(0.5 * (a + b))


def test_base_prior_takes_the_base_from_the_source_with_structure():
    """Exposure-like pair: a is textured and dark, b is flat and bright (clipped). Without the base prior the
    untrained head keeps the mean brightness; with it the base follows a, the source with structure, as GFF's
    saliency-weighted base does, and a checkpoint made without the parameter still loads."""
    from fusionlab.models.fusion_net import box_mean

    torch.manual_seed(0)
    a = 0.3 + 0.2 * torch.rand(1, 1, 48, 48)
    b = torch.full_like(a, 0.95)
    plain = FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_radius=2).eval()
    prior = FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_radius=2, base_prior=10.0).eval()
    with torch.no_grad():
        out_plain, out_prior = plain(a, b), prior(a, b)
    assert abs(out_plain.mean() - 0.5 * (a + b).mean()) < 0.02
    assert torch.allclose(box_mean(out_prior, 2), box_mean(a, 2), atol=0.02)
    assert prior.decoder.base_prior_radius == 6  # 3·base_radius
    missing, unexpected = prior.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["decoder.base_prior"] and not unexpected


def _textures(seed: int, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent smooth textures in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.avg_pool2d(torch.rand(2, 1, size + 6, size + 6, generator=g), 7, stride=1)
    x = (x - x.amin((-1, -2), keepdim=True)) / (x.amax((-1, -2), keepdim=True) - x.amin((-1, -2), keepdim=True))
    return x[:1], x[1:]


def _bracket(seed: int, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """An exposure pair: textured radiance brightening from left to right, through a gamma response at two
    exposures; the brighter one clips on the right half."""
    texture, _ = _textures(seed, size)
    ramp = torch.linspace(-2.5, 1.5, size).view(1, 1, 1, size)
    radiance = torch.exp(ramp + 0.8 * texture)
    return (0.1 * radiance).clamp(0, 1) ** 0.45, (0.8 * radiance).clamp(0, 1) ** 0.45


def test_exposure_bracket_recognises_exposure_pairs_only():
    """One radiance through a gamma response at two exposures (the brighter one clipped) is a bracket; a brighter
    but unrelated source (infrared at night) is not, nor a pair of equal brightness (multi-focus)."""
    from fusionlab.models.fusion_net import box_mean, exposure_bracket

    under, over = _bracket(0)
    _, other = _textures(0)
    night_ir = 0.6 + 0.4 * other  # brighter everywhere than the dark visible image, structure of its own
    blurred = box_mean(over, 3)
    gate = exposure_bracket(torch.cat((under, under, over)), torch.cat((over, 0.5 * night_ir, blurred)))
    assert gate.shape == (3, 1, 1, 1)
    assert gate[0].item() == 1.0 and gate[1].item() == 0.0 and gate[2].item() == 0.0
    assert exposure_bracket(over, under).item() == 1.0  # the order of the sources does not matter


def test_exposure_gate_keeps_the_mean_base_on_an_exposure_bracket():
    """With the gate, the base prior stays on for other pairs but gives way on a bracket: the fused brightness
    lies between the exposures instead of following the under-exposed image wherever the other one clips."""
    under, over = _bracket(1)
    torch.manual_seed(0)
    kw = dict(head="two_scale", base_radius=2, base_prior=20.0, detail_prior=20.0)
    plain = FusionNet(DenseCNN(width=4, layers=1), **kw).eval()
    gated = FusionNet(DenseCNN(width=4, layers=1), exposure_gate=True, **kw).eval()
    gated.load_state_dict(plain.state_dict())  # same weights: the gate has no parameter
    clipped = torch.zeros_like(over, dtype=torch.bool)
    clipped[..., -12:] = True  # clipped, and farther than the base prior's window from the unclipped part
    assert (over[clipped] > 0.99).all()
    with torch.no_grad():
        out_plain, out_gated = plain(under, over), gated(under, over)
    mean = 0.5 * (under + over)
    # without the gate the clipped region takes the under-exposed brightness, with it the two exposures' mean
    assert (out_plain - under)[clipped].abs().mean() < 0.05
    assert (out_gated - mean)[clipped].abs().mean() < 0.05
    a, b = _textures(2)  # not a bracket: the gate changes nothing
    with torch.no_grad():
        assert torch.equal(plain(a, 0.3 + 0.7 * b), gated(a, 0.3 + 0.7 * b))
    with pytest.raises(ConfigError, match="exposure_gate"):
        FusionNet(DenseCNN(width=4, layers=1), head="two_scale", exposure_gate=True)


def test_box_mean_matches_a_direct_window_mean():
    from fusionlab.models.fusion_net import box_mean

    x = torch.rand(1, 1, 12, 9)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    direct = padded.unfold(2, 5, 1).unfold(3, 5, 1).mean((-1, -2))
    assert torch.allclose(box_mean(x, 2), direct, atol=1e-6)
    assert box_mean(torch.rand(1, 1, 3, 3), 4).shape == (1, 1, 3, 3)  # smaller than the window: replicated


def test_bad_head_is_a_config_error():
    with pytest.raises(ConfigError, match="model.head"):
        FusionNet(DenseCNN(width=4, layers=1), head="nope")
    with pytest.raises(ConfigError, match="max_correction"):
        FusionNet(DenseCNN(width=4, layers=1), max_correction=0)
    with pytest.raises(ConfigError, match="base_radius"):
        FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_radius=0)
    with pytest.raises(ConfigError, match="base_prior"):
        FusionNet(DenseCNN(width=4, layers=1), head="weights", base_prior=2.0)
    with pytest.raises(ConfigError, match="base_prior"):
        FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_prior=-1.0)
    with pytest.raises(ConfigError, match="base_prior_radius"):
        FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_prior=2.0, base_prior_radius=0)


def test_swap_sources_keeps_the_callers_feature_order():
    torch.manual_seed(0)
    net = FusionNet(DenseCNN(width=4, layers=1), head="weights", swap_sources=True).train()
    a, b = torch.rand(4, 1, 16, 16), torch.rand(4, 1, 16, 16)
    _, feats = net.forward_with_features(a, b)
    for got, want in ((feats["features_a"], net.encode(a)), (feats["features_b"], net.encode(b))):
        for g, w in zip(got, want):
            assert torch.allclose(g, w, atol=1e-5)


def test_lowpass_base_makes_reconstruction_a_task_for_the_decoder():
    """With the image as base an untrained decoder reconstructs perfectly (zero correction), so training phi on
    reconstruction teaches it nothing; with base_lowpass the untrained output is the blurred image and the detail
    has to come from the features."""
    from fusionlab.models.fusion_net import box_mean

    torch.manual_seed(0)
    x = 0.2 + 0.6 * torch.rand(1, 1, 32, 32)
    plain = FusionNet(DenseCNN(width=4, layers=1)).eval()
    lowpass = FusionNet(DenseCNN(width=4, layers=1), base_lowpass=True, base_radius=2).eval()
    with torch.no_grad():
        assert torch.allclose(plain.reconstruct(x), x, atol=0.02)
        rec = lowpass.reconstruct(x)
        assert torch.allclose(rec, box_mean(x, 2), atol=0.02)
        assert (rec - x).abs().mean() > 0.05
        fused = lowpass(x, 1 - x)  # correction head: the base is the blurred mean of the sources
        assert torch.allclose(fused, box_mean(0.5 * (x + 1 - x), 2), atol=0.02)


def test_fixed_base_blend_ignores_the_head_base_logits():
    """``learn_base_blend=False``: base logits pushing to a change nothing (the base is the mean, with no base
    prior), while the detail logits still act; the option needs the two-scale head."""
    from fusionlab.models.fusion_net import box_mean

    torch.manual_seed(0)
    net = FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_radius=2, learn_base_blend=False).eval()
    with torch.no_grad():
        net.decoder.head[-1].weight.zero_()
        net.decoder.head[-1].bias.copy_(torch.tensor([30.0, -30.0, -30.0, 30.0, 0.0]))
    a = torch.full((1, 1, 16, 16), 0.7)
    b = 0.3 + 0.1 * torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        out = net(a, b)
    want = (0.5 * (box_mean(a, 2) + box_mean(b, 2)) + b - box_mean(b, 2)).clamp(1e-3, 1 - 1e-3)
    assert torch.allclose(out, want, atol=1e-4)
    with pytest.raises(ConfigError, match="learn_base_blend"):
        FusionNet(DenseCNN(width=4, layers=1), head="weights", learn_base_blend=False)


def _patchwork_pair(size: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    """An exposure-like pair whose structure switches source half-way: a is textured and dark on the left and
    flat on the right, b flat on the left and textured and bright on the right. The base prior then selects a on
    the left and b on the right, a hard switch of brightness between 0.3 and 0.8."""
    texture, other = _textures(3, size)
    left = torch.zeros(1, 1, size, size, dtype=torch.bool)
    left[..., : size // 2] = True
    a = torch.where(left, 0.2 + 0.2 * texture, torch.full_like(texture, 0.35))
    b = torch.where(left, torch.full_like(other, 0.75), 0.7 + 0.2 * other)
    return a, b


def test_coarse_band_turns_a_brightness_switch_into_a_gradient():
    """``base_coarse_radius``: where the base prior switches source, the output's brightness ramps over the
    coarse box instead of jumping; far from the switch (beyond the coarse box and the prior's window) the output
    is the plain two-scale one, and the option needs the two-scale head and a radius >= 1."""
    from fusionlab.models.fusion_net import box_mean

    a, b = _patchwork_pair()
    kw = dict(head="two_scale", base_radius=2, base_prior=20.0, detail_prior=20.0, learn_base_blend=False)
    torch.manual_seed(0)
    plain = FusionNet(DenseCNN(width=4, layers=1), **kw).eval()
    coarse = FusionNet(DenseCNN(width=4, layers=1), base_coarse_radius=16, **kw).eval()
    coarse.load_state_dict(plain.state_dict())  # the option adds no parameter
    with torch.no_grad():
        out_plain, out_coarse = plain(a, b), coarse(a, b)
    def ramp(x: torch.Tensor) -> tuple[float, int]:
        """Largest column-to-column step of the base's brightness, and the width of the 10-90% transition."""
        profile = box_mean(x, 2).mean(-2).squeeze()
        lo, hi = profile[:8].mean(), profile[-8:].mean()
        inside = (profile - lo > 0.1 * (hi - lo)) & (hi - profile > 0.1 * (hi - lo))
        return profile.diff().abs().max().item(), int(inside.sum())

    (step_plain, width_plain), (step_coarse, width_coarse) = ramp(out_plain), ramp(out_coarse)
    assert step_plain > 0.05 and width_plain < 16  # a switch between the dark and the bright source
    assert step_coarse < 0.6 * step_plain and width_coarse > 2 * width_plain
    # both sides keep their source's brightness away from the switch
    assert abs(out_coarse[..., :8].mean() - a[..., :8].mean()) < 0.03
    assert abs(out_coarse[..., -8:].mean() - b[..., -8:].mean()) < 0.03
    far = slice(None, 48 - 16 - 6 - 4)  # switch - coarse radius - prior window - margin
    assert torch.allclose(out_coarse[..., far], out_plain[..., far], atol=1e-3)
    with pytest.raises(ConfigError, match="base_coarse_radius"):
        FusionNet(DenseCNN(width=4, layers=1), head="weights", base_coarse_radius=16)
    with pytest.raises(ConfigError, match="base_coarse_radius"):
        FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_coarse_radius=0)


def _scan_pair(size: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    """A medical-like pair: both sources black outside a disc; inside it ``a`` is textured and bright (MRI-like,
    the base prior selects it) and ``b`` is a dim, smooth blob (PET-like) that reaches further out."""
    texture, _ = _textures(5, size)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    r = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2).float().sqrt().view(1, 1, size, size)
    a = torch.where(r < 20, 0.5 + 0.4 * texture, torch.zeros_like(texture))
    b = torch.where(r < 30, torch.full_like(texture, 0.15), torch.zeros_like(texture))
    return a, b


def test_base_in_range_keeps_the_coarse_band_between_the_sources_base_layers():
    """``base_in_range``: the coarse band brings brightness from up to its radius away, so without the bound the
    black background next to a bright disc comes out grey (a halo above both sources); with it the base blend
    stays within the two base layers at every pixel, the background stays black, and where the sources differ
    the coarse band still acts (the output differs from the one-band blend). Without the coarse band it changes
    nothing."""
    from fusionlab.models.fusion_net import box_mean

    a, b = _scan_pair()
    kw = dict(head="two_scale", base_radius=2, base_prior=20.0, detail_prior=20.0, learn_base_blend=False)
    torch.manual_seed(0)
    nets = {name: FusionNet(DenseCNN(width=4, layers=1), **kw, **extra).eval() for name, extra in (
        ("one_band", {}), ("leaky", {"base_coarse_radius": 24}),
        ("bounded", {"base_coarse_radius": 24, "base_in_range": True}))}
    for net in nets.values():
        net.load_state_dict(nets["one_band"].state_dict())  # the option adds no parameter
    with torch.no_grad():
        out = {name: net(a, b) for name, net in nets.items()}
    background = (box_mean(a, 2) + box_mean(b, 2) == 0)  # both sources' base layers are black here
    assert background.sum() > 1000
    assert out["leaky"][background].max() > 0.02  # the halo (8 grey levels here)
    assert out["bounded"][background].max() < 0.01  # black stays black (the output floor is 1e-3)
    (la, lb), (da, db), _ = nets["bounded"].decoder.layers(a, b)
    lo, hi = torch.minimum(la, lb), torch.maximum(la, lb)
    outside = (out["bounded"] - out["bounded"].clamp(lo, hi)).abs()  # beyond the base range: the detail blend only
    assert (outside <= da.abs() + db.abs() + 0.01).all()
    assert ((out["leaky"] - out["leaky"].clamp(lo, hi)).abs() > da.abs() + db.abs() + 0.01).any()
    inside = (box_mean(a, 2) > 0.3) & (box_mean(b, 2) > 0.1)
    assert (out["bounded"][inside] - out["one_band"][inside]).abs().max() > 0.02  # the coarse band still acts
    torch.manual_seed(0)
    plain, flagged = (FusionNet(DenseCNN(width=4, layers=1), **kw, base_in_range=flag).eval() for flag in (False, True))
    flagged.load_state_dict(plain.state_dict())
    with torch.no_grad():  # one band: a convex blend, in range by construction, so the option changes nothing
        assert torch.equal(plain(a, b), flagged(a, b))


def test_base_prior_floor_blends_flat_regions_evenly():
    """``base_prior_floor``: where both sources are flat up to faint noise, the base prior without a floor follows
    the noisier one (weights near 0/1); with a floor well above that noise the weights are near one half, while a
    region where one source has real structure still follows it."""
    g = torch.Generator().manual_seed(3)
    texture, _ = _textures(4, 64)
    a = 0.3 + 0.004 * torch.randn(1, 1, 64, 64, generator=g)  # flat, faintly noisy
    b = 0.6 + 0.001 * torch.randn(1, 1, 64, 64, generator=g)  # flat, less noisy
    a[..., 32:] = 0.2 + 0.6 * texture[..., 32:]  # real structure in a's right half
    kw = dict(head="two_scale", base_radius=2, base_prior=20.0, detail_prior=20.0, learn_base_blend=False)
    weights = {}
    for floor in (0.0, 1e-3):
        dec = FusionNet(DenseCNN(width=4, layers=1), base_prior_floor=floor, **kw).decoder
        with torch.no_grad():
            _, _, activity = dec.layers(a, b)
            weights[floor] = dec.base_prior_logits(a, b, activity).softmax(1)[:, :1]
    flat, textured = (..., slice(4, 60), slice(2, 18)), (..., slice(4, 60), slice(46, 62))
    assert weights[0.0][flat].mean() > 0.95  # a, the noisier flat source, takes the base
    assert abs(weights[1e-3][flat].mean() - 0.5) < 0.05
    assert weights[1e-3][textured].min() > 0.9 and weights[0.0][textured].min() > 0.9
    with pytest.raises(ConfigError, match="base_prior_floor"):
        FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_prior_floor=1e-3)  # no base prior
    with pytest.raises(ConfigError, match="base_prior_floor"):
        FusionNet(DenseCNN(width=4, layers=1), base_prior_floor=-1.0, **kw)


def test_base_weight_radius_spreads_the_switch_between_base_layers():
    """``base_weight_radius``: the base prior's weights are near-binary, so where they flip from one source to the
    other the fused brightness jumped in a few pixels (a hard-edged patch); averaged over a box of radius r the
    switch spreads over 2r + 1 pixels, while far from it each side still follows its own source. The option adds
    no parameter, and with another head it changes nothing."""
    size, r = 64, 6
    texture, other = _textures(7, size)
    left = torch.arange(size).view(1, 1, 1, size) < size // 2
    a = torch.where(left, 0.2 + 0.3 * (texture - 0.5), torch.full_like(texture, 0.2))  # structure on the left
    b = torch.where(left, torch.full_like(other, 0.8), 0.8 + 0.3 * (other - 0.5))  # ... and on the right
    kw = dict(head="two_scale", base_radius=2, base_prior=20.0, detail_prior=20.0, learn_base_blend=False)
    torch.manual_seed(0)
    sharp, smooth = (FusionNet(DenseCNN(width=4, layers=1), **kw, base_weight_radius=w).eval() for w in (None, r))
    smooth.load_state_dict(sharp.state_dict())
    with torch.no_grad():
        profiles = {name: net(a, b).mean((0, 1, 2)) for name, net in (("sharp", sharp), ("smooth", smooth))}
    steps = {name: p.diff().abs().max().item() for name, p in profiles.items()}
    widths = {name: int(((p > 0.26) & (p < 0.74)).sum()) for name, p in profiles.items()}  # 10-90 % of the switch
    assert steps["sharp"] > 0.12 and widths["sharp"] <= 4  # 0.2 -> 0.8 within the base layer's 5-pixel box
    assert steps["smooth"] < 0.08 and widths["smooth"] >= 2 * r - 2
    for name, p in profiles.items():  # away from the switch each side keeps its source's brightness
        assert abs(p[4:16].mean().item() - 0.2) < 0.05 and abs(p[-16:-4].mean().item() - 0.8) < 0.05, name
    for head in ("correction", "weights"):
        torch.manual_seed(0)
        plain, flagged = (FusionNet(DenseCNN(width=4, layers=1), head=head, base_weight_radius=w).eval()
                          for w in (None, r))
        flagged.load_state_dict(plain.state_dict())
        with torch.no_grad():
            assert torch.equal(plain(a, b), flagged(a, b))
    with pytest.raises(ConfigError, match="base_weight_radius"):
        FusionNet(DenseCNN(width=4, layers=1), base_weight_radius=0, **kw)


def test_tiles_match_the_whole_image_when_the_base_weights_reach_furthest():
    """The box over the base weights counts in ``context_radius`` when it is the widest (here wider than the
    coarse band), so tiled fusion with the widened margin matches the whole image."""
    from fusionlab.inference.runner import fuse_luminance

    a, b = _textures(11, 160)
    net = FusionNet(DenseCNN(width=4, layers=1), head="two_scale", base_radius=2, base_prior=20.0,
                    detail_prior=20.0, learn_base_blend=False, base_coarse_radius=8, base_weight_radius=20).eval()
    assert net.context_radius == 2 * 2 + 6 + 20
    with torch.no_grad():
        full = net(a, b)
    tiled = fuse_luminance(net, a, b, tile_size=48, tile_overlap=8, multiple=net.size_multiple)
    assert float((tiled - full.clamp(0, 1)).abs().max()) < 1e-4


@pytest.mark.parametrize("head", ["correction", "two_scale"])
def test_correction_radius_removes_the_corrections_local_mean(head):
    """A correction that shifts brightness everywhere (a constant logit) is removed exactly; one that varies within
    the box survives with its local mean taken out."""
    torch.manual_seed(0)
    a, b = torch.rand(1, 1, 24, 24) * 0.8 + 0.1, torch.rand(1, 1, 24, 24) * 0.8 + 0.1

    def out(bias: float, radius: int | None) -> torch.Tensor:
        net = FusionNet(DenseCNN(width=4, layers=1), head=head, correction_radius=radius).eval()
        with torch.no_grad():
            net.decoder.head[-1].weight.zero_()
            net.decoder.head[-1].bias.zero_()
            net.decoder.head[-1].bias[-1] = bias
            return net(a, b)

    plain = out(0.0, None)
    assert (out(-0.5, None) < plain - 1e-3).all()  # unbounded: a global darkening
    assert torch.allclose(out(-0.5, 4), plain, atol=1e-6)  # the darkening is the correction's local mean: gone
    net = FusionNet(DenseCNN(width=4, layers=1), head=head, correction_radius=4).eval()
    with torch.no_grad():
        net.decoder.head[-1].weight.normal_(std=5.0)
        shifted = torch.logit(net(a, b)) - torch.logit(plain.clamp(1e-3, 1 - 1e-3))
    assert shifted.abs().max() > 0.1  # a varying correction still acts
    assert net.context_radius >= 4  # tiled fusion keeps the box's reach


def test_correction_radius_must_be_a_box_radius():
    with pytest.raises(ConfigError, match="model.correction_radius"):
        FusionNet(DenseCNN(width=4, layers=1), correction_radius=0)
