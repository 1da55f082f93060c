"""Occlusion-aware generator: encode the source, warp its features, decode the frame."""
import paddle
import paddle.nn as nn
import paddle.nn.functional as F

from ..errors import ConfigError
from ..registry import GENERATORS
from .blocks import (
    DownBlock2d,
    ExplicitWidths,
    MobileDownBlock2d,
    MobileResBlock2d,
    MobileUpBlock2d,
    ResBlock2d,
    SameBlock2d,
    SpaceToDepth,
    UpBlock2d,
    conv_stack,
    coordinate_grid,
    resolve_widths,
)
from .border_fix import BorderFix
from .dense_motion import DenseMotionNetwork, stack_grid


def _skip_attr():
    # Zero start, so weights trained without skips render the same frames. 10x the learning
    # rate: Adam moves a weight by about lr per step, and from zero at 2e-4 the skips took over
    # 900 steps to change the L1 by 0.001 (measured).
    return paddle.ParamAttr(initializer=nn.initializer.Constant(0.0), learning_rate=10.0)


@GENERATORS.register
class OcclusionAwareGenerator(ExplicitWidths, nn.Layer):
    """Given a source image and source/driving keypoints, renders the driving frame.

    ``align_corners`` is grid_sample's convention (False: the original on torch >= 1.3;
    True: PaddleGAN and torch 1.0, under which the 2019 checkpoints were trained).
    ``border_fix`` turns on PaddleGAN's inference-time edge fix (see border_fix.py).

    ``mobile_net``: PaddleGAN's mobile layout (also for the dense motion network): ``first`` is
    three bias-free 3x3 SameBlock2d (C, C, block_expansion), depthwise-separable down/up blocks,
    inverted-residual bottleneck blocks, ``final`` is [conv 3x3, ReLU, conv 3x3, ReLU, conv 3x3].
    As in PaddleGAN, the border fix then leaves the occlusion map alone (it still bends the flow).
    ``widths`` (mobile only, for pruned networks): ``first`` (3 output widths), ``down`` (each
    down block's output; the last is the bottleneck's width), ``bottleneck_hidden`` (each
    bottleneck block's hidden width), ``up`` (each up block's output), ``final`` (2 hidden
    widths). The dense motion network's go in ``dense_motion_params.widths``. Missing keys take
    their defaults; see :meth:`default_widths`.

    ``skip_connections`` (ours, off in the original): the source's features at every encoder
    level are warped and masked like the deepest ones, and each is added to the decoder at its
    resolution through a 1x1 conv that starts at zero (so a checkpoint trained without them
    loads and renders the same pictures). Without them the frame is decoded from features at
    1/2**num_down_blocks of its size, which blurs small frames (MODEL_CARD.md). The mobile
    layout has them too: a 1x1 conv from each encoder level's width to its up block's.

    ``skip_source_image`` (ours, off in the original): the source image itself, warped and
    masked, is added to the decoder's full-resolution output through a zero-started 1x1 conv.
    Where the warp is right the decoder then only has to pass it through; where the occlusion
    map hides the source (an opened mouth, what a turn reveals) it paints.

    ``blend_warped_source`` (ours, off in the original): the frame is a per-pixel mix of the
    decoded frame and the source warped by the flow (unmasked), ``decoded + m * (warped -
    decoded)``, with ``m`` from a 3x3 conv on the decoder's last features. The decoder no longer
    has to rebuild the warp's detail through its final conv and sigmoid: on the shipped
    synthetic model the warp alone was closer to the truth (L1 0.0206) than the decoded frame
    (0.0263), and the better of the two per pixel 0.0163 (MODEL_CARD.md). The conv starts at
    zero, so an even mix (``m`` = 0.5); it learns at 10x the learning rate, like the skips.

    ``exact_flow_resize`` (ours, off in the original and PaddleGAN): the flow, estimated at the
    dense motion network's resolution, is resized to each warped tensor's with
    ``align_corners=True``. Its values are coordinates on a grid whose ends are the frame's
    corner pixels, so only that resize keeps a motionless flow the identity. The original resizes
    with ``align_corners=False``, which shifts and scales the warp by up to half a pixel of the
    output (nothing to resize when the flow already has the features' size, as in vox-256; on
    the synthetic 64x64 model it blurred every edge even for a motionless frame).
    """

    def __init__(
        self,
        num_channels,
        num_kp,
        block_expansion,
        max_features,
        num_down_blocks,
        num_bottleneck_blocks,
        estimate_occlusion_map=False,
        dense_motion_params=None,
        estimate_jacobian=False,
        align_corners=False,
        antialias="strided",
        border_fix=False,
        mobile_net=False,
        widths=None,
        skip_connections=False,
        skip_source_image=False,
        blend_warped_source=False,
        exact_flow_resize=False,
    ):
        super().__init__()
        width = lambda level: min(max_features, block_expansion * (2 ** level))  # noqa: E731
        if mobile_net or widths is not None:
            defaults = {
                "first": [num_channels, num_channels, block_expansion],
                "down": [width(i + 1) for i in range(num_down_blocks)],
                "bottleneck_hidden": [0] * num_bottleneck_blocks,  # placeholders: 2x the trunk width
                "up": [width(num_down_blocks - i - 1) for i in range(num_down_blocks)],
                "final": [block_expansion, block_expansion],
            }
            self.widths = resolve_widths("OcclusionAwareGenerator", defaults, widths, mobile_net)
            trunk = self.widths["down"][-1] if num_down_blocks else self.widths["first"][-1]
            if not widths or "bottleneck_hidden" not in widths:
                self.widths["bottleneck_hidden"] = [2 * trunk] * num_bottleneck_blocks
        else:
            self.widths = None
        self.mobile_net = mobile_net

        if dense_motion_params is not None:
            dense_motion_params = dict(dense_motion_params)
            if dense_motion_params.pop("mobile_net", mobile_net) != mobile_net:
                raise ConfigError(
                    "dense_motion_params.mobile_net differs from the generator's mobile_net: "
                    "the generator's setting applies to its dense motion network (leave it out there)"
                )
            self.dense_motion_network = DenseMotionNetwork(
                num_kp=num_kp,
                num_channels=num_channels,
                estimate_occlusion_map=estimate_occlusion_map,
                align_corners=align_corners,
                antialias=antialias,
                mobile_net=mobile_net,
                **dense_motion_params,
            )
        else:
            self.dense_motion_network = None

        if mobile_net:
            self._build_mobile(num_channels)
        else:
            self._build(num_channels, block_expansion, width, num_down_blocks, num_bottleneck_blocks)
        self.skips = self.image_skip = self.blend = None
        self.skip_packers, self.packed_widths = nn.LayerList(), [self.trunk_width]
        if skip_connections:
            self._build_skips(width, num_down_blocks)
        if skip_source_image:
            self.image_skip = nn.Conv2D(num_channels, self.decoded_width, kernel_size=1, weight_attr=_skip_attr(),
                                        bias_attr=False)
        if blend_warped_source:
            if dense_motion_params is None:
                raise ConfigError("generator_cfg.blend_warped_source needs a dense motion network (dense_motion_params)")
            self.blend = nn.Conv2D(self.decoded_width, 1, kernel_size=3, padding=1, weight_attr=_skip_attr(),
                                   bias_attr=_skip_attr())
        # The source image travels in the cache when the image skip or the blend reads it.
        self.source_packed = bool(skip_source_image or blend_warped_source)
        if self.source_packed:
            self._add_packer(num_channels, 2 ** num_down_blocks)
        self.estimate_occlusion_map = estimate_occlusion_map
        self.num_channels = num_channels
        self.align_corners = align_corners
        self.exact_flow_resize = exact_flow_resize
        self.border_fix = BorderFix() if border_fix else None

    def _build(self, num_channels, block_expansion, width, num_down_blocks, num_bottleneck_blocks):
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=7, padding=3)
        self.down_blocks = nn.LayerList(
            [DownBlock2d(width(i), width(i + 1), kernel_size=3, padding=1) for i in range(num_down_blocks)]
        )
        self.up_blocks = nn.LayerList(
            [
                UpBlock2d(width(num_down_blocks - i), width(num_down_blocks - i - 1), kernel_size=3, padding=1)
                for i in range(num_down_blocks)
            ]
        )
        self.bottleneck = nn.Sequential()
        for i in range(num_bottleneck_blocks):
            self.bottleneck.add_sublayer("r" + str(i), ResBlock2d(width(num_down_blocks), kernel_size=3, padding=1))
        self.final = nn.Conv2D(block_expansion, num_channels, kernel_size=7, padding=3)
        self.trunk_width, self.decoded_width = width(num_down_blocks), block_expansion

    def _build_mobile(self, num_channels):
        w = self.widths
        first_in = [num_channels] + w["first"][:-1]
        self.first = nn.Sequential(
            *[SameBlock2d(c_in, c_out, kernel_size=3, padding=1, mobile_net=True) for c_in, c_out in zip(first_in, w["first"])]
        )
        down_in = [w["first"][-1]] + w["down"][:-1]
        self.down_blocks = nn.LayerList([MobileDownBlock2d(c_in, c_out) for c_in, c_out in zip(down_in, w["down"])])
        trunk = w["down"][-1] if w["down"] else w["first"][-1]
        up_in = [trunk] + w["up"][:-1]
        self.up_blocks = nn.LayerList([MobileUpBlock2d(c_in, c_out) for c_in, c_out in zip(up_in, w["up"])])
        self.bottleneck = nn.Sequential()
        for i, hidden in enumerate(w["bottleneck_hidden"]):
            self.bottleneck.add_sublayer("r" + str(i), MobileResBlock2d(trunk, 3, 1, hidden_features=hidden))
        decoded = w["up"][-1] if w["up"] else trunk
        self.trunk_width, self.decoded_width = trunk, decoded
        self.final = conv_stack([decoded, *w["final"], num_channels], weight_attr=nn.initializer.KaimingUniform)

    def _build_skips(self, width, num_down_blocks):
        # Encoder level l (full size at 0) feeds the output of up block num_down_blocks - 1 - l.
        if not self.mobile_net:
            encoder = [width(l) for l in range(num_down_blocks)]
            decoder = [width(num_down_blocks - i - 1) for i in range(num_down_blocks)]
        else:  # mobile (pruned or not): the level widths are its blocks' outputs
            encoder = [self.widths["first"][-1]] + self.widths["down"][:-1]
            decoder = self.widths["up"]
        levels = list(reversed(range(num_down_blocks)))
        self.skips = nn.LayerList(
            [nn.Conv2D(encoder[l], decoder[i], kernel_size=1, weight_attr=_skip_attr(), bias_attr=False)
             for i, l in enumerate(levels)]
        )
        for l in levels:
            self._add_packer(encoder[l], 2 ** (num_down_blocks - l))

    def _add_packer(self, channels, factor):
        # The encoder packs every skip input into its deepest resolution (space to depth), so the
        # source cache stays one "features" tensor for exported models and engines.
        self.skip_packers.append(SpaceToDepth(channels, factor))
        self.packed_widths.append(self.skip_packers[-1].out_channels)

    def deform_input(self, inp, deformation):
        """Warp ``inp`` (B, C, H, W) with a flow (B, h, w, 2), resized bilinearly if needed."""
        h, w = inp.shape[2], inp.shape[3]
        if deformation.shape[1] != h or deformation.shape[2] != w:
            deformation = F.interpolate(
                deformation.transpose([0, 3, 1, 2]), size=[h, w], mode="bilinear",
                align_corners=self.exact_flow_resize
            ).transpose([0, 2, 3, 1])
        if self.border_fix is not None:
            xx, yy = coordinate_grid(h, w, inp.dtype)
            deformation = self.border_fix.flow(deformation, stack_grid(xx, yy, h, w))
        return F.grid_sample(inp, deformation, mode="bilinear", padding_mode="zeros", align_corners=self.align_corners)

    def encode(self, source_image):
        """What depends on the source alone, computed once per source image and cached:
        its encoded features and, when there is a dense motion network, the source at the
        resolution motion is estimated at."""
        out = self.first(source_image)
        levels = []
        for block in self.down_blocks:
            levels.append(out)
            out = block(out)
        small = self.dense_motion_network.downsample(source_image) if self.dense_motion_network else None
        skip_inputs = levels[::-1] if self.skips is not None else []
        if self.source_packed:
            skip_inputs = skip_inputs + [source_image]
        if skip_inputs:
            out = paddle.concat([out] + [pack(x) for pack, x in zip(self.skip_packers, skip_inputs)], axis=1)
        return {"features": out, "source_small": small}

    def _unpack(self, features):
        """(deepest features, [skip inputs: encoder levels in the order the decoder meets them,
        then the source image])."""
        if not self.packed_widths[1:]:
            return features, []
        parts = paddle.split(features, self.packed_widths, axis=1)
        return parts[0], [F.pixel_shuffle(part, pack.factor) for pack, part in zip(self.skip_packers, parts[1:])]

    def decode(self, warped_features, warped_skip_inputs=(), warped_source=None):
        """The frame from the warped deepest features and the warped, masked skip inputs (see
        _unpack); ``warped_source`` (unmasked) is what the blend mixes in."""
        out = self.bottleneck(warped_features)
        for i, block in enumerate(self.up_blocks):
            out = block(out)
            if self.skips is not None:
                out = out + self.skips[i](warped_skip_inputs[i])
        if self.image_skip is not None:
            out = out + self.image_skip(warped_skip_inputs[-1])
        decoded = F.sigmoid(self.final(out))
        if self.blend is None:
            return decoded
        return decoded + F.sigmoid(self.blend(out)) * (warped_source - decoded)

    def _mask(self, out, occlusion_map):
        if occlusion_map is None:
            return out
        if occlusion_map.shape[2] != out.shape[2] or occlusion_map.shape[3] != out.shape[3]:
            occlusion_map = F.interpolate(occlusion_map, size=out.shape[2:], mode="bilinear", align_corners=False)
        if self.border_fix is not None and not self.mobile_net:  # PaddleGAN skips it for mobile
            occlusion_map = self.border_fix.occlusion(occlusion_map)
        return out * occlusion_map

    def forward(self, source_image, kp_driving, kp_source, source_cache=None, full_outputs=True):
        """Render the driving frame.

        source_cache: ``encode(source_image)``, to skip the source-only work per frame.
        full_outputs: False skips the full-resolution ``deformed`` image, which only
            visualisations and losses need (the per-frame path of inference).
        """
        cache = self.encode(source_image) if source_cache is None else source_cache
        out, skips = self._unpack(cache["features"])
        output = {}
        if self.dense_motion_network is not None:
            motion = self.dense_motion_network(
                source_image=source_image, kp_driving=kp_driving, kp_source=kp_source,
                source_small=cache["source_small"],
            )
            output["mask"] = motion["mask"]
            output["sparse_deformed"] = motion["sparse_deformed"]
            deformation = motion["deformation"]
            occlusion_map = motion.get("occlusion_map")
            if occlusion_map is not None:
                output["occlusion_map"] = occlusion_map
            out = self._mask(self.deform_input(out, deformation), occlusion_map)
            warped = [self.deform_input(x, deformation) for x in skips]
            warped_source = warped[-1] if self.source_packed else None
            # the warped source is masked only for the image skip; the blend reads it unmasked
            masked = warped if self.image_skip is not None else warped[:len(warped) - self.source_packed]
            skips = [self._mask(x, occlusion_map) for x in masked]
            if full_outputs:
                output["deformed"] = (warped_source if warped_source is not None
                                      else self.deform_input(source_image, deformation))
            output["deformation"] = deformation
        output["prediction"] = self.decode(out, skips, warped_source)
        return output
