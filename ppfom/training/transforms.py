"""Random thin-plate-spline warps for the equivariance losses (the original's ``Transform``).

A :class:`TPSTransform` holds one random warp ``T`` per batch element:

    T(p) = A p + t + f(p) * (1, 1),   f(p) = sum_k w_k d_k^2 log(d_k + 1e-6),  d_k = |p - c_k|_1

with ``[A | t] = [I | 0] + N(0, sigma_affine)``, control points ``c_k`` on a
``points_tps x points_tps`` grid over [-1, 1]^2 and weights ``w_k ~ N(0, sigma_tps)``. As in
the original, the distance is the L1 norm and the spline term ``f`` is one scalar added to both
coordinates. Coordinates are (x, y) in [-1, 1], the keypoints' convention.

``transform_frame(frame)`` samples ``frame`` at ``T(p)`` for every pixel ``p``, so a feature at
``q`` in ``frame`` appears at ``p`` with ``T(p) = q``; this is why the equivariance loss
compares ``kp(frame)`` with ``T(kp(transform_frame(frame)))``.

Randomness
----------
``seed=None`` (what training uses) draws the parameters from paddle's global generator, first
the affine noise, then the spline weights, so ``paddle.seed(s)`` before a step fixes that step's
warps (the trainer seeds per step, which makes a resumed run draw the same warps).
``seed=<int>`` draws them from numpy's ``default_rng(seed)`` instead and leaves paddle's
generator untouched (tests, reproducible one-off warps).
"""
import numpy as np
import paddle
import paddle.nn.functional as F

from ..modules.blocks import coordinate_grid

TPS_EPS = 1e-6  # inside the log, as the original


def pixel_grid(height, width, dtype="float32"):
    """(1, H*W, 2) (x, y) coordinates of every pixel, row by row, as the original's
    ``make_coordinate_grid`` (pixel i of n at 2 i / (n - 1) - 1)."""
    xx, yy = coordinate_grid(height, width, dtype)
    return paddle.concat([xx.reshape([1, height * width, 1]), yy.reshape([1, height * width, 1])], axis=2)


class TPSTransform:
    """One random affine + thin-plate-spline warp per batch element.

    batch_size: how many warps (one per frame of a batch).
    sigma_affine: std of the noise added to the identity ``[I | 0]`` (2x3).
    sigma_tps, points_tps: std of the spline weights and the control grid's side; either None
        means no spline part (as the original when the config leaves them out).
    align_corners: grid_sample's convention in :meth:`transform_frame`; pass the networks'
        (``generator.align_corners``) so the frame is sampled as they sample.
    seed: None for paddle's global generator, an int for a private numpy generator.
    """

    def __init__(self, batch_size, sigma_affine, sigma_tps=None, points_tps=None, align_corners=False, seed=None):
        self.batch_size = int(batch_size)
        self.align_corners = bool(align_corners)
        self.tps = sigma_tps is not None and points_tps is not None
        n_ctrl = int(points_tps) ** 2 if self.tps else 0
        rng = None if seed is None else np.random.default_rng(seed)

        def normal(shape, std):
            if rng is None:
                return paddle.randn(shape, dtype="float32") * float(std)
            return paddle.to_tensor((rng.standard_normal(shape) * float(std)).astype("float32"))

        identity = paddle.to_tensor(np.array([[1, 0, 0], [0, 1, 0]], dtype="float32")).reshape([1, 2, 3])
        self.theta = normal([self.batch_size, 2, 3], sigma_affine) + identity  # (B, 2, 3)
        if self.tps:
            p = int(points_tps)
            self.control_points = pixel_grid(p, p)  # (1, P*P, 2)
            self.control_params = normal([self.batch_size, 1, n_ctrl], sigma_tps)  # (B, 1, P*P)
        else:
            self.control_points = None
            self.control_params = None

    # ------------------------------------------------------------------ helpers
    def _batched(self, coordinates):
        """(B or 1, N, 2) -> (B, N, 2), and theta/params in the coordinates' dtype."""
        if coordinates.shape[0] != self.batch_size:
            if coordinates.shape[0] != 1:
                raise ValueError(
                    f"coordinates for {coordinates.shape[0]} frames, transform for {self.batch_size}")
            coordinates = paddle.expand(coordinates, [self.batch_size, coordinates.shape[1], 2])
        return coordinates

    def _spline_parts(self, coordinates):
        """Per control point: offsets (dx, dy) (B, N, P) and L1 distances d (B, N, P)."""
        ctrl = self.control_points.astype(coordinates.dtype)
        dx = coordinates[:, :, 0:1] - ctrl[:, :, 0].unsqueeze(1)
        dy = coordinates[:, :, 1:2] - ctrl[:, :, 1].unsqueeze(1)
        return dx, dy, paddle.abs(dx) + paddle.abs(dy)

    # ------------------------------------------------------------------ the warp
    def warp_coordinates(self, coordinates):
        """T(p) for (B or 1, N, 2) points (x, y) -> (B, N, 2); differentiable in the points."""
        coordinates = self._batched(coordinates)
        theta = self.theta.astype(coordinates.dtype)
        out = paddle.matmul(coordinates, theta[:, :, :2], transpose_y=True) + theta[:, :, 2].unsqueeze(1)
        if self.tps:
            _, _, d = self._spline_parts(coordinates)
            w = self.control_params.astype(coordinates.dtype)  # (B, 1, P)
            spline = (d * d * paddle.log(d + TPS_EPS) * w).sum(axis=2, keepdim=True)  # (B, N, 1)
            out = out + spline
        return out

    def jacobian(self, coordinates):
        """dT/dp at (B, N, 2) points -> (B, N, 2, 2), rows (d x', d y'), columns (d/dx, d/dy).

        Closed form of what the original gets from autograd: A, plus the spline's gradient
        ``sum_k w_k (2 d log(d + eps) + d^2 / (d + eps)) sign(p - c_k)`` in both rows. sign(0) = 0
        is the subgradient autograd takes for |.| at 0. The result is differentiable in the
        points, so the loss trains the keypoint values through it as the original does.
        """
        coordinates = self._batched(coordinates)
        b, n = coordinates.shape[0], coordinates.shape[1]
        theta = self.theta.astype(coordinates.dtype)
        jac = paddle.expand(theta[:, :, :2].unsqueeze(1), [b, n, 2, 2])
        if self.tps:
            dx, dy, d = self._spline_parts(coordinates)
            w = self.control_params.astype(coordinates.dtype)
            df = w * (2 * d * paddle.log(d + TPS_EPS) + d * d / (d + TPS_EPS))  # (B, N, P)
            gx = (df * paddle.sign(dx)).sum(axis=2)  # (B, N)
            gy = (df * paddle.sign(dy)).sum(axis=2)
            row = paddle.stack([gx, gy], axis=2).unsqueeze(2)  # (B, N, 1, 2), the same for x' and y'
            jac = jac + row
        return jac

    def transform_frame(self, frame):
        """Warp (B, C, H, W) frames: output pixel p takes the frame's value at T(p).

        Bilinear, reflection padding (the original's), with this transform's align_corners.
        """
        h, w = frame.shape[2], frame.shape[3]
        grid = self.warp_coordinates(pixel_grid(h, w, frame.dtype)).reshape([self.batch_size, h, w, 2])
        return F.grid_sample(frame, grid, mode="bilinear", padding_mode="reflection",
                             align_corners=self.align_corners)
