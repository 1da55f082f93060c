"""Independent PyTorch reference of the First Order Motion Model's inference path.

Written from the description of the original (AliaksandrSiarohin/first-order-model) for use as a
test oracle of the Paddle port; it shares no code with the port. Module and parameter names follow
the original exactly, so the ``generator`` / ``kp_detector`` state dicts of an original checkpoint
load with ``strict=True``.

Conventions reproduced (see /work/shared/fixtures/README.md):

* ``grid_sample`` with ``align_corners=False`` (torch >= 1.3 default the original runs under). The
  module-level switch :data:`GRID_SAMPLE_ALIGN_CORNERS` or the ``align_corners`` constructor argument
  of :class:`DenseMotionNetwork` / :class:`OcclusionAwareGenerator` changes it (``True`` reproduces
  torch < 1.3, under which the 2019 checkpoints were trained). Bilinear resizes of the deformation
  and the occlusion map always use ``align_corners=False`` (their default since torch 0.4).
* Anti-alias downsampling: Gaussian, sigma ``(1/scale - 1)/2``, size ``2*round(4*sigma)+1``, zero
  padding, depthwise conv, then strided slicing by ``int(1/scale)``.
* Upsampling in decoders: nearest x2. Encoders: conv -> BN -> ReLU -> 2x2 average pooling.
* Keypoints: softmax over the flattened H*W of ``logits / temperature``; coordinates (x, y) in
  [-1, 1] on the grid of the (possibly smaller, pad=0) heatmap.
* BatchNorm eps 1e-5; callers put the modules in eval mode (``build_from_original_config`` does).
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "GRID_SAMPLE_ALIGN_CORNERS", "make_coordinate_grid", "kp2gaussian", "AntiAliasInterpolation2d",
    "ResBlock2d", "UpBlock2d", "DownBlock2d", "SameBlock2d", "Encoder", "Decoder", "Hourglass",
    "KPDetector", "DenseMotionNetwork", "OcclusionAwareGenerator", "movement_scale", "normalize_kp",
    "build_from_original_config",
]

#: align_corners used by every grid_sample whose module was built with ``align_corners=None``.
GRID_SAMPLE_ALIGN_CORNERS = False


def _grid_sample(inp, grid, align_corners):
    if align_corners is None:
        align_corners = GRID_SAMPLE_ALIGN_CORNERS
    return F.grid_sample(inp, grid, mode="bilinear", padding_mode="zeros", align_corners=bool(align_corners))


def make_coordinate_grid(spatial_size, dtype=torch.float32, device=None):
    """(h, w, 2) grid of (x, y) spanning [-1, 1] at pixel centres of the first/last row and column."""
    h, w = spatial_size
    xs = torch.arange(w, dtype=dtype, device=device)
    ys = torch.arange(h, dtype=dtype, device=device)
    xs = 2 * (xs / (w - 1)) - 1
    ys = 2 * (ys / (h - 1)) - 1
    grid_x = xs.view(1, w).expand(h, w)
    grid_y = ys.view(h, 1).expand(h, w)
    return torch.stack([grid_x, grid_y], dim=-1)


def kp2gaussian(kp_value, spatial_size, kp_variance):
    """Gaussian bumps exp(-|z - kp|^2 / (2 var)) for kp_value (..., 2) -> (..., h, w)."""
    grid = make_coordinate_grid(spatial_size, kp_value.dtype, kp_value.device)
    lead = kp_value.shape[:-1]
    centre = kp_value.reshape(*lead, 1, 1, 2)
    diff = grid.reshape((1,) * len(lead) + grid.shape) - centre
    return torch.exp(-0.5 * (diff ** 2).sum(-1) / kp_variance)


class AntiAliasInterpolation2d(nn.Module):
    """Gaussian blur followed by integer-stride subsampling. Buffer ``weight`` (C, 1, k, k)."""

    def __init__(self, channels, scale):
        super().__init__()
        sigma = (1.0 / scale - 1.0) / 2.0
        size = 2 * round(sigma * 4) + 1
        self.ka = size // 2
        self.kb = self.ka - 1 if size % 2 == 0 else self.ka
        centre = (size - 1) / 2
        coords = torch.arange(size, dtype=torch.float32)
        # separable product of two 1-D gaussians, normalised to sum 1 over the 2-D kernel
        g = torch.exp(-(coords - centre) ** 2 / (2 * sigma ** 2))
        kernel = g.view(size, 1) * g.view(1, size)
        kernel = kernel / kernel.sum()
        self.register_buffer("weight", kernel.view(1, 1, size, size).repeat(channels, 1, 1, 1))
        self.groups = channels
        self.scale = scale
        self.int_inv_scale = int(1.0 / scale)

    def forward(self, x):
        if self.scale == 1.0:
            return x
        out = F.pad(x, (self.ka, self.kb, self.ka, self.kb))
        out = F.conv2d(out, self.weight, groups=self.groups)
        step = self.int_inv_scale
        return out[:, :, ::step, ::step]


def _bn(channels):
    return nn.BatchNorm2d(channels, eps=1e-5, affine=True)


class ResBlock2d(nn.Module):
    """Pre-activation residual block: x + conv2(relu(bn2(conv1(relu(bn1(x))))))."""

    def __init__(self, in_features, kernel_size, padding):
        super().__init__()
        self.conv1 = nn.Conv2d(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(in_features, in_features, kernel_size=kernel_size, padding=padding)
        self.norm1 = _bn(in_features)
        self.norm2 = _bn(in_features)

    def forward(self, x):
        y = self.conv1(F.relu(self.norm1(x)))
        y = self.conv2(F.relu(self.norm2(y)))
        return y + x


class UpBlock2d(nn.Module):
    """nearest x2 -> conv -> BN -> ReLU."""

    def __init__(self, in_features, out_features, kernel_size=3, padding=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding, groups=groups)
        self.norm = _bn(out_features)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return F.relu(self.norm(self.conv(x)))


class DownBlock2d(nn.Module):
    """conv -> BN -> ReLU -> 2x2 average pooling."""

    def __init__(self, in_features, out_features, kernel_size=3, padding=1, groups=1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding, groups=groups)
        self.norm = _bn(out_features)
        self.pool = nn.AvgPool2d(kernel_size=(2, 2))

    def forward(self, x):
        return self.pool(F.relu(self.norm(self.conv(x))))


class SameBlock2d(nn.Module):
    """conv -> BN -> ReLU at constant resolution."""

    def __init__(self, in_features, out_features, groups=1, kernel_size=3, padding=1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size=kernel_size, padding=padding, groups=groups)
        self.norm = _bn(out_features)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))


def _width(block_expansion, max_features, level):
    return min(max_features, block_expansion * (2 ** level))


class Encoder(nn.Module):
    """Hourglass encoder; returns the input and every block's output."""

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256):
        super().__init__()
        blocks = []
        for i in range(num_blocks):
            cin = in_features if i == 0 else _width(block_expansion, max_features, i)
            blocks.append(DownBlock2d(cin, _width(block_expansion, max_features, i + 1), kernel_size=3, padding=1))
        self.down_blocks = nn.ModuleList(blocks)

    def forward(self, x):
        feats = [x]
        for block in self.down_blocks:
            feats.append(block(feats[-1]))
        return feats


class Decoder(nn.Module):
    """Hourglass decoder with skip concatenation [up, skip]; out channels block_expansion + in_features."""

    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256):
        super().__init__()
        blocks = []
        for i in reversed(range(num_blocks)):
            mult = 1 if i == num_blocks - 1 else 2
            cin = mult * _width(block_expansion, max_features, i + 1)
            blocks.append(UpBlock2d(cin, _width(block_expansion, max_features, i), kernel_size=3, padding=1))
        self.up_blocks = nn.ModuleList(blocks)
        self.out_filters = block_expansion + in_features

    def forward(self, feats):
        feats = list(feats)
        out = feats.pop()
        for block in self.up_blocks:
            out = torch.cat([block(out), feats.pop()], dim=1)
        return out


class Hourglass(nn.Module):
    def __init__(self, block_expansion, in_features, num_blocks=3, max_features=256):
        super().__init__()
        self.encoder = Encoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = Decoder(block_expansion, in_features, num_blocks, max_features)
        self.out_filters = self.decoder.out_filters

    def forward(self, x):
        return self.decoder(self.encoder(x))


class KPDetector(nn.Module):
    """Keypoints (B, K, 2) as heatmap expectations, and optionally jacobians (B, K, 2, 2)."""

    def __init__(self, block_expansion, num_kp, num_channels, max_features, num_blocks, temperature,
                 estimate_jacobian=False, scale_factor=1, single_jacobian_map=False, pad=0):
        super().__init__()
        self.predictor = Hourglass(block_expansion, in_features=num_channels, max_features=max_features,
                                   num_blocks=num_blocks)
        feat = self.predictor.out_filters
        self.kp = nn.Conv2d(feat, num_kp, kernel_size=(7, 7), padding=pad)
        if estimate_jacobian:
            self.num_jacobian_maps = 1 if single_jacobian_map else num_kp
            self.jacobian = nn.Conv2d(feat, 4 * self.num_jacobian_maps, kernel_size=(7, 7), padding=pad)
            # the original starts from the identity: zero weights, bias [1, 0, 0, 1] per map
            with torch.no_grad():
                self.jacobian.weight.zero_()
                self.jacobian.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 1.0] * self.num_jacobian_maps))
        else:
            self.num_jacobian_maps = 0
            self.jacobian = None
        self.num_kp = num_kp
        self.temperature = temperature
        self.scale_factor = scale_factor
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def forward(self, x):
        if self.scale_factor != 1:
            x = self.down(x)
        feature_map = self.predictor(x)
        logits = self.kp(feature_map)
        b, k, h, w = logits.shape
        heat = F.softmax(logits.reshape(b, k, h * w) / self.temperature, dim=2).reshape(b, k, h, w)
        grid = make_coordinate_grid((h, w), heat.dtype, heat.device)  # (h, w, 2)
        value = (heat.unsqueeze(-1) * grid.view(1, 1, h, w, 2)).sum(dim=(2, 3))
        out = {"value": value}
        if self.jacobian is not None:
            jmap = self.jacobian(feature_map).reshape(b, self.num_jacobian_maps, 4, h, w)
            jac = (heat.unsqueeze(2) * jmap).reshape(b, k, 4, h * w).sum(dim=-1)
            out["jacobian"] = jac.reshape(b, k, 2, 2)
        return out


class DenseMotionNetwork(nn.Module):
    """Sparse motions + heatmap differences -> hourglass -> mask softmax, dense deformation, occlusion."""

    def __init__(self, block_expansion, num_blocks, max_features, num_kp, num_channels,
                 estimate_occlusion_map=False, scale_factor=1, kp_variance=0.01, align_corners=None):
        super().__init__()
        self.hourglass = Hourglass(block_expansion=block_expansion, in_features=(num_kp + 1) * (num_channels + 1),
                                   max_features=max_features, num_blocks=num_blocks)
        feat = self.hourglass.out_filters
        self.mask = nn.Conv2d(feat, num_kp + 1, kernel_size=(7, 7), padding=(3, 3))
        if estimate_occlusion_map:
            self.occlusion = nn.Conv2d(feat, 1, kernel_size=(7, 7), padding=(3, 3))
        else:
            self.occlusion = None
        self.num_kp = num_kp
        self.scale_factor = scale_factor
        self.kp_variance = kp_variance
        self.align_corners = align_corners
        if scale_factor != 1:
            self.down = AntiAliasInterpolation2d(num_channels, scale_factor)

    def create_heatmap_representations(self, source_image, kp_driving, kp_source):
        """(B, K+1, 1, h, w): background zeros, then gaussian(driving) - gaussian(source)."""
        size = source_image.shape[2:]
        heat = kp2gaussian(kp_driving["value"], size, self.kp_variance) - \
            kp2gaussian(kp_source["value"], size, self.kp_variance)
        bg = heat.new_zeros(heat.shape[0], 1, size[0], size[1])
        return torch.cat([bg, heat], dim=1).unsqueeze(2)

    def create_sparse_motions(self, source_image, kp_driving, kp_source):
        """(B, K+1, h, w, 2): identity, then kp_s + J_s J_d^-1 (z - kp_d) for every keypoint."""
        b, _, h, w = source_image.shape
        ident = make_coordinate_grid((h, w), kp_source["value"].dtype, kp_source["value"].device)
        rel = ident.view(1, 1, h, w, 2) - kp_driving["value"].view(b, self.num_kp, 1, 1, 2)
        if "jacobian" in kp_driving:
            jac = torch.matmul(kp_source["jacobian"], torch.inverse(kp_driving["jacobian"]))  # (B, K, 2, 2)
            rel = torch.matmul(jac.view(b, self.num_kp, 1, 1, 2, 2), rel.unsqueeze(-1)).squeeze(-1)
        moved = rel + kp_source["value"].view(b, self.num_kp, 1, 1, 2)
        return torch.cat([ident.view(1, 1, h, w, 2).expand(b, 1, h, w, 2), moved], dim=1)

    def create_deformed_source_image(self, source_image, sparse_motions):
        """(B, K+1, C, h, w): the source warped by every sparse motion."""
        b, c, h, w = source_image.shape
        n = self.num_kp + 1
        rep = source_image.unsqueeze(1).expand(b, n, c, h, w).reshape(b * n, c, h, w)
        warped = _grid_sample(rep, sparse_motions.reshape(b * n, h, w, 2), self.align_corners)
        return warped.reshape(b, n, c, h, w)

    def forward(self, source_image, kp_driving, kp_source):
        if self.scale_factor != 1:
            source_image = self.down(source_image)
        b, _, h, w = source_image.shape
        out = {}
        heat = self.create_heatmap_representations(source_image, kp_driving, kp_source)
        motions = self.create_sparse_motions(source_image, kp_driving, kp_source)
        deformed = self.create_deformed_source_image(source_image, motions)
        out["sparse_deformed"] = deformed
        net_in = torch.cat([heat, deformed], dim=2).reshape(b, -1, h, w)
        feat = self.hourglass(net_in)
        mask = F.softmax(self.mask(feat), dim=1)  # (B, K+1, h, w)
        out["mask"] = mask
        deformation = (motions * mask.unsqueeze(-1)).sum(dim=1)  # (B, h, w, 2)
        out["deformation"] = deformation
        if self.occlusion is not None:
            out["occlusion_map"] = torch.sigmoid(self.occlusion(feat))
        return out


class OcclusionAwareGenerator(nn.Module):
    """Encoder -> warp by the dense motion -> occlusion -> residual bottleneck -> decoder -> sigmoid."""

    def __init__(self, num_channels, num_kp, block_expansion, max_features, num_down_blocks,
                 num_bottleneck_blocks, estimate_occlusion_map=False, dense_motion_params=None,
                 estimate_jacobian=False, align_corners=None):
        super().__init__()
        if dense_motion_params is not None:
            self.dense_motion_network = DenseMotionNetwork(num_kp=num_kp, num_channels=num_channels,
                                                           estimate_occlusion_map=estimate_occlusion_map,
                                                           align_corners=align_corners, **dense_motion_params)
        else:
            self.dense_motion_network = None
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=(7, 7), padding=(3, 3))
        self.down_blocks = nn.ModuleList([
            DownBlock2d(_width(block_expansion, max_features, i), _width(block_expansion, max_features, i + 1),
                        kernel_size=(3, 3), padding=(1, 1))
            for i in range(num_down_blocks)])
        self.up_blocks = nn.ModuleList([
            UpBlock2d(_width(block_expansion, max_features, num_down_blocks - i),
                      _width(block_expansion, max_features, num_down_blocks - i - 1),
                      kernel_size=(3, 3), padding=(1, 1))
            for i in range(num_down_blocks)])
        self.bottleneck = nn.Sequential()
        mid = _width(block_expansion, max_features, num_down_blocks)
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_module("r%d" % i, ResBlock2d(mid, kernel_size=(3, 3), padding=(1, 1)))
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=(7, 7), padding=(3, 3))
        self.estimate_occlusion_map = estimate_occlusion_map
        self.num_channels = num_channels
        self.align_corners = align_corners

    def deform_input(self, inp, deformation):
        _, h_d, w_d, _ = deformation.shape
        h, w = inp.shape[2:]
        if (h_d, w_d) != (h, w):
            deformation = F.interpolate(deformation.permute(0, 3, 1, 2), size=(h, w), mode="bilinear",
                                        align_corners=False).permute(0, 2, 3, 1)
        return _grid_sample(inp, deformation, self.align_corners)

    def forward(self, source_image, kp_driving, kp_source):
        out = self.first(source_image)
        for block in self.down_blocks:
            out = block(out)
        result = {}
        if self.dense_motion_network is not None:
            motion = self.dense_motion_network(source_image=source_image, kp_driving=kp_driving,
                                               kp_source=kp_source)
            result["mask"] = motion["mask"]
            result["sparse_deformed"] = motion["sparse_deformed"]
            result["deformation"] = motion["deformation"]
            occ = motion.get("occlusion_map")
            if occ is not None:
                result["occlusion_map"] = occ
            out = self.deform_input(out, motion["deformation"])
            if occ is not None:
                if occ.shape[2:] != out.shape[2:]:
                    occ = F.interpolate(occ, size=out.shape[2:], mode="bilinear", align_corners=False)
                out = out * occ
            result["deformed"] = self.deform_input(source_image, motion["deformation"])
        out = self.bottleneck(out)
        for block in self.up_blocks:
            out = block(out)
        result["prediction"] = torch.sigmoid(self.final(out))
        return result


def _hull_area(points):
    from scipy.spatial import ConvexHull
    # for 2-D input scipy's ``volume`` is the enclosed area (``area`` would be the perimeter)
    return ConvexHull(np.asarray(points)).volume


def movement_scale(kp_source, kp_driving_initial):
    """sqrt(hull area of source kp) / sqrt(hull area of initial driving kp), batch element 0 only."""
    src = _hull_area(kp_source["value"][0].detach().cpu().numpy())
    drv = _hull_area(kp_driving_initial["value"][0].detach().cpu().numpy())
    return np.sqrt(src) / np.sqrt(drv)


def normalize_kp(kp_source, kp_driving, kp_driving_initial, adapt_movement_scale=False,
                 use_relative_movement=False, use_relative_jacobian=False):
    """The original's demo-time keypoint normalisation (same argument names and semantics)."""
    scale = movement_scale(kp_source, kp_driving_initial) if adapt_movement_scale else 1
    kp_new = dict(kp_driving)
    if use_relative_movement:
        diff = (kp_driving["value"] - kp_driving_initial["value"]) * float(scale)
        kp_new["value"] = diff + kp_source["value"]
        if use_relative_jacobian:
            rel = torch.matmul(kp_driving["jacobian"], torch.inverse(kp_driving_initial["jacobian"]))
            kp_new["jacobian"] = torch.matmul(rel, kp_source["jacobian"])
    return kp_new


def build_from_original_config(model_params, align_corners=None, eval_mode=True):
    """(kp_detector, generator) from an original-layout ``model_params`` dict (or a whole config).

    ``KPDetector(**kp_detector_params, **common_params)`` and
    ``OcclusionAwareGenerator(**generator_params, **common_params)``, as the original's demo does.
    """
    if "model_params" in model_params:
        model_params = model_params["model_params"]
    common = dict(model_params["common_params"])
    kp_detector = KPDetector(**dict(model_params["kp_detector_params"]), **common)
    gen_params = dict(model_params["generator_params"])
    if gen_params.get("dense_motion_params") is not None:
        gen_params["dense_motion_params"] = dict(gen_params["dense_motion_params"])
    generator = OcclusionAwareGenerator(**gen_params, **common, align_corners=align_corners)
    if eval_mode:
        kp_detector.eval()
        generator.eval()
    return kp_detector, generator
