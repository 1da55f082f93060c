"""Synthetic talking heads: procedurally rendered faces that turn, nod, blink and speak.

Training data for a small FOMM that needs no download. Every clip is a pure function of two
seeds: the *identity* (face shape, skin, hair style and colour, eyes, brows, nose, mouth, ears,
beard, glasses, clothes) and the *clip* (motion, lighting, background).

How a frame is made (:class:`HeadRenderer`): a small 3-D scene of ellipsoids is ray-cast
orthographically at twice the output size and then area-downsampled (anti-aliasing):

* the head, an ellipsoid whose front carries a painted texture (eyes with iris, pupil and
  lids, brows, cheeks, lips, optional beard, glasses and mole), front-projected so that turning
  the head moves the features sideways and foreshortens them, and the lower face tapered
  into a jaw;
* a nose that sticks out (so it moves more than the eyes when the head turns), two ears,
  a hair shell around the head whose front is cut out for the face (short, medium, long
  hair, bangs or bald), a neck and the shoulders in the clothes' colour;
* Lambert shading from a light fixed in the scene, with darker edges, so the outline of
  the face and the nose stay visible whatever the colours;
* a smooth, textured background (low-frequency colour noise) that does not move.

The motion of a clip (:func:`make_motion`) is a sum of slow sinusoids per degree of freedom:
yaw up to about ±35°, pitch ±18°, roll ±12° (about a pivot in the neck), translation by up
to ~9 % of the frame and ±8 % scale; eyes blink every one to two and a half seconds, and
the mouth opens and closes at syllable rate during speech bursts.

:func:`make_dataset` writes clips in the dataset layout that ``FirstOrderDataset`` reads
(``root/train`` and ``root/test``, one entry per clip), one identity per clip or a few clips
per identity (named ``id00012#01``), with different identities in train and test.
"""
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np

from ..errors import PpfomError

SYNTHETIC_VERSION = 1
FORMATS = ("png", "mp4", "gif")
SUFFIX = {"png": "", "mp4": ".mp4", "gif": ".gif"}

# Skin tones from light to dark (RGB), interpolated.
SKIN_TONES = np.array([(255, 226, 204), (243, 201, 170), (228, 177, 138), (204, 145, 104),
                       (163, 108, 72), (118, 76, 50), (86, 56, 38)], np.float32)
HAIR_COLORS = np.array([(28, 24, 24), (58, 38, 28), (96, 64, 40), (140, 96, 56), (206, 170, 104),
                        (150, 62, 30), (165, 165, 165), (225, 225, 218)], np.float32)
HAIR_WEIGHTS = np.array([3, 3, 3, 2, 2, 1, 1, 0.6])
DYED_HAIR = np.array([(40, 80, 170), (190, 70, 140), (60, 140, 90), (120, 50, 160)], np.float32)
IRIS_COLORS = np.array([(92, 56, 32), (50, 32, 22), (60, 110, 170), (70, 120, 70), (110, 120, 130),
                        (130, 100, 50)], np.float32)


# -- identity and motion ------------------------------------------------------------------

def _pick(rng, table, weights=None):
    p = None if weights is None else np.asarray(weights, float) / np.sum(weights)
    return table[rng.choice(len(table), p=p)].copy()


def _jitter(rng, color, amount):
    return np.clip(color + rng.normal(0, amount, 3), 0, 255).astype(np.float32)


def make_identity(identity_seed):
    """Everything that makes a face someone: a dict of shape, colour and style parameters."""
    rng = np.random.default_rng([SYNTHETIC_VERSION, 1, int(identity_seed)])
    p = {}
    b = rng.uniform(0.5, 0.6)
    a = b * rng.uniform(0.70, 0.86)
    p["axes"] = np.array([a, b, a * rng.uniform(0.95, 1.1)], np.float32)
    p["taper"] = rng.uniform(0.0, 0.24)                      # jaw narrower than the cheeks
    p["center_y"] = rng.uniform(0.0, 0.1)
    t = rng.uniform(0, len(SKIN_TONES) - 1)
    i = min(int(t), len(SKIN_TONES) - 2)
    p["skin"] = _jitter(rng, SKIN_TONES[i] * (1 - (t - i)) + SKIN_TONES[i + 1] * (t - i), 6)
    if rng.random() < 0.08:
        p["hair_color"] = _jitter(rng, _pick(rng, DYED_HAIR), 10)
    else:
        p["hair_color"] = _jitter(rng, _pick(rng, HAIR_COLORS, HAIR_WEIGHTS), 8)
    style = rng.choice(["short", "medium", "long", "bangs", "bald"], p=[0.3, 0.25, 0.25, 0.13, 0.07])
    p["hair_style"] = str(style)
    # Hairline on the front of the hair shell (unit-sphere height) and how far down it reaches.
    p["hairline"] = {"short": rng.uniform(0.52, 0.66), "medium": rng.uniform(0.48, 0.6),
                     "long": rng.uniform(0.45, 0.58), "bangs": rng.uniform(0.3, 0.38),
                     "bald": 0.0}[style]
    p["hairline_curve"] = rng.uniform(0.1, 0.35) if style != "bangs" else rng.uniform(0.0, 0.08)
    p["hair_length"] = {"short": rng.uniform(-0.12, 0.12), "medium": rng.uniform(0.3, 0.55),
                        "long": rng.uniform(0.8, 1.05), "bangs": rng.uniform(0.1, 0.8),
                        "bald": 0.0}[style]
    p["hair_volume"] = rng.uniform(1.07, 1.16)
    p["hair_freq"] = rng.uniform(9, 15)
    p["eye_u"] = rng.uniform(0.36, 0.44)
    p["eye_v"] = rng.uniform(0.06, 0.16)
    p["eye_w"] = rng.uniform(0.32, 0.40)
    p["eye_h"] = p["eye_w"] * rng.uniform(0.4, 0.52)
    p["iris"] = _jitter(rng, _pick(rng, IRIS_COLORS), 10)
    p["brow_gap"] = rng.uniform(0.08, 0.14)
    p["brow_thick"] = rng.uniform(0.035, 0.07)
    p["brow_arch"] = rng.uniform(0.01, 0.05)
    p["brow_tilt"] = rng.uniform(-0.03, 0.04)
    p["brow_color"] = np.clip(p["hair_color"] * rng.uniform(0.45, 0.8), 0, 255).astype(np.float32)
    p["nose_v"] = rng.uniform(-0.16, -0.06)
    p["nose_axes"] = np.array([rng.uniform(0.12, 0.18), rng.uniform(0.17, 0.26), rng.uniform(0.1, 0.17)],
                              np.float32)
    p["mouth_v"] = rng.uniform(-0.52, -0.42)
    p["mouth_w"] = rng.uniform(0.5, 0.72)
    p["lip"] = rng.uniform(0.035, 0.06)
    lip_mix = rng.uniform(0.35, 0.65)
    p["lip_color"] = np.clip(p["skin"] * (1 - lip_mix) + np.array([175, 60, 72]) * lip_mix, 0, 255).astype(np.float32)
    p["ear_v"] = rng.uniform(-0.08, 0.08)
    p["beard"] = bool(rng.random() < 0.12)
    p["mustache"] = bool(p["beard"] or rng.random() < 0.06)
    p["glasses"] = bool(rng.random() < 0.12)
    p["glasses_color"] = _jitter(rng, np.array(rng.choice([20, 60, 120]) * np.ones(3)), 25)
    p["mole"] = (rng.uniform(-0.55, 0.55), rng.uniform(-0.45, 0.1)) if rng.random() < 0.25 else None
    p["blush"] = rng.uniform(0.0, 0.25)
    p["cloth"] = rng.uniform(30, 230, 3).astype(np.float32)
    p["cloth2"] = rng.uniform(30, 230, 3).astype(np.float32)
    p["stripes"] = float(rng.uniform(8, 18)) if rng.random() < 0.4 else 0.0
    p["skin_noise"] = int(rng.integers(0, 2 ** 31))
    return p


def _wave(rng, t, amplitude, fmin, fmax, parts=3):
    """A smooth random curve: a sum of sinusoids with random frequencies and phases."""
    weights = rng.uniform(0.3, 1.0, parts)
    weights /= weights.sum()
    out = np.zeros_like(t)
    for w in weights:
        out += w * np.sin(2 * np.pi * rng.uniform(fmin, fmax) * t + rng.uniform(0, 2 * np.pi))
    out /= max(np.abs(out).max(), 0.5)            # the full range is used within the clip
    return amplitude * out


def make_motion(motion_seed, frames, fps=25):
    """Per-frame pose and expression of one clip: a dict of float32 arrays of length ``frames``.

    yaw, pitch, roll (radians), tx, ty (frame units, the frame spans [-1, 1]), scale,
    blink (0 open .. 1 closed), mouth (0 closed .. 1 wide open).
    """
    rng = np.random.default_rng([SYNTHETIC_VERSION, 2, int(motion_seed)])
    t = np.arange(frames, dtype=np.float64) / fps
    deg = np.pi / 180
    m = {
        "yaw": _wave(rng, t, rng.uniform(15, 35) * deg, 0.15, 0.7) + rng.uniform(-8, 8) * deg,
        "pitch": _wave(rng, t, rng.uniform(7, 18) * deg, 0.2, 1.0) + rng.uniform(-4, 4) * deg,
        "roll": _wave(rng, t, rng.uniform(4, 12) * deg, 0.1, 0.6),
        "tx": _wave(rng, t, rng.uniform(0.02, 0.09), 0.1, 0.5) + rng.uniform(-0.04, 0.04),
        "ty": _wave(rng, t, rng.uniform(0.02, 0.07), 0.1, 0.5) + rng.uniform(-0.03, 0.03),
        "scale": 1 + _wave(rng, t, rng.uniform(0.02, 0.08), 0.1, 0.4) + rng.uniform(-0.06, 0.06),
    }
    # Blinks: the first within the first second and a bit, then every 1-2.5 s; each 0.16-0.3 s.
    blink = np.zeros_like(t)
    tc = rng.uniform(0.1, max(0.2, min(1.2, t[-1] - 0.15)))
    while tc < t[-1] + 0.3:
        d = rng.uniform(0.16, 0.3)
        x = np.clip((t - tc) / d, -0.5, 0.5)
        blink = np.maximum(blink, np.cos(np.pi * x) ** 2 * (np.abs(t - tc) < d / 2))
        tc += rng.uniform(1.0, 2.5)
    m["blink"] = blink
    # Speech: bursts (smooth on/off envelope) of syllables at 2.5-4.5 Hz of varying strength.
    rate = rng.uniform(2.5, 4.5) * (1 + 0.25 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(rate) / fps + rng.uniform(0, 2 * np.pi)
    syllable = 0.5 - 0.5 * np.cos(phase)
    strength = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * t + rng.uniform(0, 6))
    envelope = np.clip(1.6 * np.sin(2 * np.pi * rng.uniform(0.15, 0.45) * t + rng.uniform(0, 6)) + 1.0, 0, 1)
    m["mouth"] = np.clip(syllable * strength * envelope, 0, 1)
    return {k: v.astype(np.float32) for k, v in m.items()}


# -- rendering ------------------------------------------------------------------------------

def _smooth_noise(rng, n, cells, channels=1):
    """Low-frequency noise in [-1, 1] at n x n: random values on a cells x cells grid, upsampled."""
    import cv2

    grid = rng.uniform(-1, 1, (cells + 1, cells + 1, channels)).astype(np.float32)
    out = cv2.resize(grid, (n, n), interpolation=cv2.INTER_CUBIC)
    return out.reshape(n, n, channels)


def _rot_x(angle):
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], np.float32)


def _rot_y(angle):
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], np.float32)


def _raycast(x, y, center, axes, rot, far=False):
    """Orthographic rays (x, y, z -> +inf towards the viewer) against an ellipsoid.

    ``rot`` maps the ellipsoid's own axes to the frame. Returns (hit, z_near, s_near, z_far,
    s_far): s are the hit points in the ellipsoid's unit-sphere coordinates, (3, H, W) each; the
    far hit only with ``far``.
    """
    inv = rot.T / axes[:, None]                       # frame -> unit sphere
    dx, dy = x - center[0], y - center[1]
    u = [inv[i, 0] * dx + inv[i, 1] * dy - inv[i, 2] * center[2] for i in range(3)]
    v = inv[:, 2]
    vv = float(v @ v)
    uv = u[0] * v[0] + u[1] * v[1] + u[2] * v[2]
    uu = u[0] * u[0] + u[1] * u[1] + u[2] * u[2]
    disc = uv * uv - vv * (uu - 1)
    hit = disc > 0
    root = np.sqrt(np.maximum(disc, 0))
    z_near = (root - uv) / vv
    s_near = np.stack([u[i] + z_near * v[i] for i in range(3)])
    if not far:
        return hit, z_near, s_near, None, None
    z_far = (-root - uv) / vv
    s_far = np.stack([u[i] + z_far * v[i] for i in range(3)])
    return hit, z_near, s_near, z_far, s_far


def _normals(s, axes, rot):
    """World-frame unit normals (3, H, W) at unit-sphere points ``s`` of an ellipsoid."""
    g = s / axes[:, None, None]
    n = np.einsum("ij,jhw->ihw", rot, g)
    return n / np.maximum(np.linalg.norm(n, axis=0, keepdims=True), 1e-6)


def _smoothstep(x):
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


class HeadRenderer:
    """Renders one identity in one scene (background, light) at ``size`` (rendered at 2x)."""

    def __init__(self, identity, scene_seed, size):
        import cv2

        self.p = identity
        self.size = int(size)
        self.n = n = 2 * self.size
        rng = np.random.default_rng([SYNTHETIC_VERSION, 3, int(scene_seed)])
        # Pixel centres: x right, y up, the frame spans [-1, 1].
        c = (np.arange(n, dtype=np.float32) + 0.5) / n * 2 - 1
        self.x, self.y = np.meshgrid(c, -c)
        # Background: a base colour, two scales of smooth colour noise and a soft vertical light fall-off.
        import colorsys

        base = 255 * np.array(colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.1, 0.5), rng.uniform(0.3, 0.85)),
                              np.float32)
        luma = 30 * _smooth_noise(rng, n, 3) + 14 * _smooth_noise(rng, n, 10)
        chroma = 12 * _smooth_noise(rng, n, 4, 3)
        bg = base + luma + chroma + rng.uniform(-25, 25) * self.y[..., None]
        self.background = np.clip(bg, 0, 255).astype(np.float32)
        light = np.array([rng.uniform(-0.7, 0.7), rng.uniform(0.1, 0.7), 1.0], np.float32)
        self.light = light / np.linalg.norm(light)
        self.ambient = float(rng.uniform(0.4, 0.55))
        # The face texture, front-projected: texel (col, row) <-> (u, v) in [-1, 1]^2 of the head's
        # unit sphere; twice the render resolution across the face, blurred by ~1 texel.
        self.ts = ts = max(64, 2 * n)
        self.base_texture = self._paint_base(cv2, np.random.default_rng(identity["skin_noise"]))

    # texture painting (texel units) ------------------------------------------------------
    def _uv(self, u, v):
        return ((u + 1) / 2 * (self.ts - 1), (1 - v) / 2 * (self.ts - 1))

    def _pt(self, u, v):
        x, y = self._uv(u, v)
        return (int(round(x * 16)), int(round(y * 16)))

    def _len(self, d):
        return max(1, int(round(d / 2 * (self.ts - 1) * 16)))

    def _paint_base(self, cv2, rng):
        p, ts = self.p, self.ts
        skin = p["skin"]
        tex = np.empty((ts, ts, 3), np.float32)
        tex[:] = skin
        tex *= 1 + 0.05 * _smooth_noise(rng, ts, 6, 1)
        cu = np.linspace(-1, 1, ts, dtype=np.float32)
        uu, vv = np.meshgrid(cu, -cu)
        # Cheeks: a soft reddish blush; under the brows and around the nose slightly darker.
        for side in (-1, 1):
            w = np.exp(-(((uu - side * 0.45) / 0.18) ** 2 + ((vv + 0.2) / 0.14) ** 2))
            tex += (np.array([200, 80, 80], np.float32) - tex) * (p["blush"] * w)[..., None]
            w = np.exp(-(((uu - side * p["eye_u"]) / 0.2) ** 2 + ((vv - p["eye_v"] - 0.02) / 0.1) ** 2))
            tex *= (1 - 0.12 * w)[..., None]
        if p["beard"] or p["mustache"]:
            hair = p["hair_color"]
            stubble = 0.75 + 0.25 * _smooth_noise(rng, ts, 40, 1)[..., 0]
            if p["beard"]:
                lower = _smoothstep((p["mouth_v"] + 0.1 - vv) / 0.12) * _smoothstep((0.8 - np.abs(uu)) / 0.2)
                tex += (hair - tex) * (0.85 * lower * stubble)[..., None]
            mv = p["mouth_v"] + p["lip"] + 0.06
            mus = np.exp(-(((uu) / (p["mouth_w"] * 0.75)) ** 4 + ((vv - mv) / 0.045) ** 2))
            tex += (hair - tex) * (0.9 * mus * stubble)[..., None]
        if p["mole"] is not None:
            cv2.circle(tex, self._pt(*p["mole"]), self._len(0.025), (60, 40, 35), -1, cv2.LINE_AA, 4)
        # Brows: thick arcs.
        for side in (-1, 1):
            cx, cy = side * p["eye_u"], p["eye_v"] + p["eye_h"] / 2 + p["brow_gap"]
            xs = np.linspace(-0.55, 0.55, 12) * p["eye_w"] * 1.35
            arch = p["brow_arch"] * (1 - (2 * xs / (p["eye_w"] * 1.35)) ** 2)
            ys = cy + arch - side * p["brow_tilt"] * xs / p["eye_w"]
            pts = np.array([self._pt(cx + x, y) for x, y in zip(xs, ys)], np.int32)
            cv2.polylines(tex, [pts], False, p["brow_color"].tolist(), self._len(p["brow_thick"]) // 16,
                          cv2.LINE_AA, 4)
        if p["glasses"]:
            col = p["glasses_color"].tolist()
            thick = max(1, self._len(0.018) // 16)
            for side in (-1, 1):
                cv2.ellipse(tex, self._pt(side * p["eye_u"], p["eye_v"]),
                            (self._len(p["eye_w"] * 0.8), self._len(p["eye_w"] * 0.62)), 0, 0, 360, col,
                            thick, cv2.LINE_AA, 4)
            gap = p["eye_u"] - p["eye_w"] * 0.8
            cv2.line(tex, self._pt(-gap, p["eye_v"] + 0.03), self._pt(gap, p["eye_v"] + 0.03), col, thick,
                     cv2.LINE_AA, 4)
        tex = cv2.GaussianBlur(tex, (0, 0), 0.8)
        return np.clip(tex, 0, 255)

    def _paint_frame(self, blink, mouth):
        """The face texture of one frame: eyes at this blink, mouth at this opening."""
        import cv2

        p = self.p
        tex = self.base_texture.copy()
        for side in (-1, 1):
            self._paint_eye(cv2, tex, side * p["eye_u"], p["eye_v"], blink)
        self._paint_mouth(cv2, tex, mouth)
        return tex

    def _patch(self, u0, v0, u1, v1):
        x0, y0 = self._uv(u0, v1)
        x1, y1 = self._uv(u1, v0)
        x0, y0 = max(0, int(x0) - 2), max(0, int(y0) - 2)
        x1, y1 = min(self.ts, int(x1) + 3), min(self.ts, int(y1) + 3)
        return slice(y0, y1), slice(x0, x1), x0, y0

    def _paint_eye(self, cv2, tex, cu, cv, blink):
        p = self.p
        w, h = p["eye_w"], p["eye_h"]
        rows, cols, x0, y0 = self._patch(cu - w, cv - h * 1.2, cu + w, cv + h * 1.2)
        sub = tex[rows, cols]
        shift = (x0 * 16, y0 * 16)

        def pt(u, v):
            a, b = self._pt(u, v)
            return (a - shift[0], b - shift[1])

        openness = 1.0 - float(blink)
        oh = h * openness
        ocv = cv - 0.25 * h * (1 - openness)          # the upper lid comes down further
        eye = np.empty_like(sub)
        eye[:] = (236, 234, 228)
        iris_r = h * 0.46
        cv2.circle(eye, pt(cu, cv), self._len(iris_r), p["iris"].tolist(), -1, cv2.LINE_AA, 4)
        cv2.circle(eye, pt(cu, cv), self._len(iris_r * 0.45), (12, 10, 10), -1, cv2.LINE_AA, 4)
        cv2.circle(eye, pt(cu - iris_r * 0.35, cv + iris_r * 0.35), self._len(iris_r * 0.18),
                   (250, 250, 250), -1, cv2.LINE_AA, 4)
        mask = np.zeros(sub.shape[:2], np.uint8)
        if oh > 0.01:
            cv2.ellipse(mask, pt(cu, ocv), (self._len(w / 2), self._len(oh / 2)), 0, 0, 360, 255, -1,
                        cv2.LINE_AA, 4)
        m = (mask.astype(np.float32) / 255)[..., None]
        sub[:] = sub * (1 - m) + eye * m
        lid = (np.clip(p["skin"] * 0.25, 0, 255)).tolist()
        thick = max(1, self._len(0.022) // 16)
        if oh > 0.01:
            cv2.ellipse(sub, pt(cu, ocv), (self._len(w / 2), self._len(oh / 2)), 0, 180, 360, lid, thick,
                        cv2.LINE_AA, 4)
            low = (np.clip(p["skin"] * 0.6, 0, 255)).tolist()
            cv2.ellipse(sub, pt(cu, ocv), (self._len(w / 2), self._len(oh / 2)), 0, 20, 160, low,
                        max(1, thick // 2), cv2.LINE_AA, 4)
        else:
            cv2.ellipse(sub, pt(cu, ocv), (self._len(w / 2), self._len(0.012)), 0, 0, 180, lid, thick,
                        cv2.LINE_AA, 4)
        blurred = cv2.GaussianBlur(sub, (0, 0), 0.7)
        sub[:] = blurred

    def _paint_mouth(self, cv2, tex, mouth):
        p = self.p
        w, lip, cv = p["mouth_w"], p["lip"], p["mouth_v"]
        oh = float(mouth) * 0.22                       # opening height at most
        width = w * (1 - 0.15 * float(mouth))          # an open mouth is a bit narrower
        rows, cols, x0, y0 = self._patch(-w, cv - oh - 2.5 * lip, w, cv + 2 * lip)
        sub = tex[rows, cols]
        shift = (x0 * 16, y0 * 16)

        def pt(u, v):
            a, b = self._pt(u, v)
            return (a - shift[0], b - shift[1])

        ccv = cv - oh / 2                              # the lower lip and jaw go down
        cv2.ellipse(sub, pt(0, ccv), (self._len(width / 2), self._len(lip + oh / 2)), 0, 0, 360,
                    p["lip_color"].tolist(), -1, cv2.LINE_AA, 4)
        dark = (48, 16, 20)
        if oh > 0.012:
            inner = np.empty_like(sub)
            inner[:] = dark
            cv2.rectangle(inner, pt(-width, ccv + oh / 2 + 0.01), pt(width, ccv + oh / 2 - 0.035),
                          (232, 228, 215), -1, cv2.LINE_AA, 4)
            mask = np.zeros(sub.shape[:2], np.uint8)
            cv2.ellipse(mask, pt(0, ccv), (self._len(width * 0.42), self._len(oh / 2)), 0, 0, 360, 255, -1,
                        cv2.LINE_AA, 4)
            m = (mask.astype(np.float32) / 255)[..., None]
            sub[:] = sub * (1 - m) + inner * m
        else:
            cv2.ellipse(sub, pt(0, ccv), (self._len(width * 0.45), self._len(0.01)), 0, 0, 180, dark,
                        max(1, self._len(0.016) // 16), cv2.LINE_AA, 4)
        blurred = cv2.GaussianBlur(sub, (0, 0), 0.7)
        sub[:] = blurred

    # the scene ----------------------------------------------------------------------------
    def render(self, pose):
        """One frame (size, size, 3) uint8 for a pose: a dict of yaw, pitch, roll, tx, ty, scale,
        blink, mouth (scalars)."""
        import cv2

        p = self.p
        A = p["axes"]
        a, b, c = (float(v) for v in A)
        s = float(pose["scale"])
        tx, ty = float(pose["tx"]), float(pose["ty"]) + p["center_y"]
        # Frame -> head frame: undo translation and scale, then roll about the neck.
        dx, dy = (self.x - tx) / s, (self.y - ty) / s
        roll = float(pose["roll"])
        pivot = np.array([0.0, -0.8 * b, -0.35 * c], np.float32)
        cr, sr = math.cos(roll), math.sin(roll)
        px, py = dx - pivot[0], dy - pivot[1]
        hx, hy = cr * px + sr * py + pivot[0], -sr * px + cr * py + pivot[1]
        rot_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]], np.float32)
        R = _rot_y(float(pose["yaw"])) @ _rot_x(float(pose["pitch"]))

        def place(local):                               # head-local point -> head frame (yaw, pitch)
            local = np.asarray(local, np.float32)
            return pivot + R @ (local - pivot)

        centre = place([0, 0, 0])
        # The jaw: below the head's centre the face narrows (a warp of the rays, not of the model).
        w = 1 - p["taper"] * _smoothstep((centre[1] - hy) / b)
        jx = centre[0] + (hx - centre[0]) / w

        color = self.background.copy()
        zbuf = np.full(hx.shape, -np.inf, np.float32)
        light = self.light

        def shade(n):
            lam = np.maximum(np.einsum("ihw,i->hw", n, light), 0)
            edge = 0.7 + 0.3 * np.clip(n[2], 0, 1)
            return ((self.ambient + (1 - self.ambient) * lam) * edge)[..., None]

        def put(hit, z, rgb):
            z = z * s
            m = hit & (z > zbuf)
            np.copyto(zbuf, z, where=m)
            np.copyto(color, rgb, where=m[..., None])

        # Shoulders (in the frame, following the head halfway) and the neck (with the roll).
        tor_c = np.array([0.5 * float(pose["tx"]), -1.36 + 0.5 * float(pose["ty"]), -0.9], np.float32)
        tor_a = np.array([1.1, 0.66, 0.45], np.float32)
        eye3 = np.eye(3, dtype=np.float32)
        hit, zn, sn, _, _ = _raycast(self.x, self.y, tor_c, tor_a, eye3)
        cloth = p["cloth"]
        if p["stripes"]:
            st = 0.5 + 0.5 * np.sin(p["stripes"] * sn[1] * np.pi)
            rgb = cloth + (p["cloth2"] - cloth) * _smoothstep((st - 0.3) / 0.4)[..., None]
        else:
            rgb = np.broadcast_to(cloth, color.shape)
        rgb = rgb * shade(_normals(sn, tor_a, eye3))
        np.copyto(zbuf, zn, where=hit)
        np.copyto(color, rgb, where=hit[..., None])

        neck_c = np.array([0, -0.95 * b, -0.3 * c], np.float32)
        neck_a = np.array([0.62 * a, 0.75 * b, 0.55 * c], np.float32)
        ch, sh = math.cos(roll / 2), math.sin(roll / 2)     # the neck leans half as much as the head
        nx, ny = ch * px + sh * py + pivot[0], -sh * px + ch * py + pivot[1]
        hit, zn, sn, _, _ = _raycast(nx, ny, neck_c, neck_a, eye3)
        rot_half = np.array([[ch, -sh, 0], [sh, ch, 0], [0, 0, 1]], np.float32)
        n = np.einsum("ij,jhw->ihw", rot_half, _normals(sn, neck_a, eye3))
        put(hit, zn, p["skin"] * 0.82 * shade(n))

        world = rot_roll @ R                           # normals: head frame -> frame

        # The hair shell: hair where the shell is not cut out for the face; the inside shows
        # behind the head where the front is cut away.
        if p["hair_style"] != "bald":
            hv = p["hair_volume"]
            hc = np.array([0, 0.07 * b, -0.08 * c], np.float32)
            ha = np.array([a * hv, b * (hv + 0.04 + 0.25 * max(0, p["hair_length"] - 0.5)), c * hv], np.float32)
            hc[1] -= 0.25 * b * max(0, p["hair_length"] - 0.5)
            hit, zn, sn, zf, sf = _raycast(jx, hy, place(hc), ha, R, far=True)

            def is_hair(sp):
                hairline = p["hairline"] - p["hairline_curve"] * sp[0] ** 2 * 4
                face = (sp[2] > 0.15) & (sp[1] < hairline)
                return ~face & (sp[1] > -p["hair_length"])

            near_ok = hit & is_hair(sn)
            far_ok = hit & ~near_ok & is_hair(sf)
            z = np.where(near_ok, zn, zf)
            sp = np.where(near_ok[None], sn, sf)
            nrm = _normals(sp, ha, world)
            nrm = np.where(near_ok[None], nrm, -nrm)
            strands = 0.88 + 0.12 * np.sin(p["hair_freq"] * (sp[0] + 0.3 * sp[1] ** 2) * np.pi)
            inner = np.where(far_ok, 0.55, 1.0)
            put(near_ok | far_ok, z, p["hair_color"] * (strands * inner)[..., None] * shade(nrm))

        # Ears.
        for side in (-1, 1):
            ec = np.array([side * a * 0.99, p["ear_v"] * b, -0.1 * c], np.float32)
            ea = np.array([0.1 * a, 0.22 * b, 0.15 * c], np.float32)
            hit, zn, sn, _, _ = _raycast(jx, hy, place(ec), ea, R)
            inner = 1 - 0.35 * np.exp(-(sn[1] ** 2 + sn[2] ** 2) / 0.25) * (side * sn[0] > 0)
            put(hit, zn, p["skin"] * 0.95 * inner[..., None] * shade(_normals(sn, ea, world)))

        # The head, textured.
        hit, zn, sn, _, _ = _raycast(jx, hy, place([0, 0, 0]), A, R)
        tex = self._paint_frame(pose["blink"], pose["mouth"])
        mx = ((sn[0] + 1) / 2 * (self.ts - 1)).astype(np.float32)
        my = ((1 - sn[1]) / 2 * (self.ts - 1)).astype(np.float32)
        rgb = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        back = sn[2] < 0
        rgb[back] = p["skin"]
        put(hit, zn, rgb * shade(_normals(sn, A, world)))

        # The nose: an ellipsoid standing out of the face, with nostrils.
        na = p["nose_axes"] * np.array([a, b, c], np.float32)
        nv = p["nose_v"]
        surface_z = c * math.sqrt(max(0.0, 1 - nv * nv))
        nc = np.array([0, nv * b, surface_z - 0.35 * na[2]], np.float32)
        hit, zn, sn, _, _ = _raycast(jx, hy, place(nc), na, R)
        nostril = 1 - 0.7 * sum(np.exp(-((sn[0] - side * 0.45) ** 2 + (sn[1] + 0.62) ** 2 + (sn[2] - 0.4) ** 2) / 0.04)
                               for side in (-1, 1))
        put(hit, zn, p["skin"] * 1.02 * nostril[..., None] * shade(_normals(sn, na, world)))

        out = cv2.resize(np.clip(color, 0, 255), (self.size, self.size), interpolation=cv2.INTER_AREA)
        return np.clip(np.round(out), 0, 255).astype(np.uint8)


def render_video(identity_seed, motion_seed, size=64, frames=48, fps=25):
    """One clip: (frames, size, size, 3) uint8 RGB, a pure function of the arguments."""
    if int(size) < 16:
        raise PpfomError(f"size {size}: at least 16 pixels")
    if int(frames) < 1:
        raise PpfomError(f"frames {frames}: at least 1")
    renderer = HeadRenderer(make_identity(identity_seed), motion_seed, size)
    motion = make_motion(motion_seed, int(frames), fps)
    out = np.empty((int(frames), int(size), int(size), 3), np.uint8)
    for t in range(int(frames)):
        out[t] = renderer.render({k: v[t] for k, v in motion.items()})
    return out


# -- writing clips and datasets -----------------------------------------------------------

def write_video(frames, path, fmt, fps=25):
    """Write (T, H, W, 3) uint8 frames as ``path`` (an .mp4 or .gif file, or a folder of PNGs).

    The caller chooses a temporary path and renames it (see :func:`make_dataset`).
    mp4 is H.264 at imageio's quality 10 (libx264 crf 0) in yuv444p: lossless but for the
    RGB<->YUV rounding (mean error ~0.4 levels, at most 2, measured on these clips).
    """
    import cv2

    path = Path(path)
    if fmt == "png":
        path.mkdir(parents=True)
        for i, frame in enumerate(frames):
            if not cv2.imwrite(str(path / f"{i:05d}.png"), np.ascontiguousarray(frame[..., ::-1])):
                raise PpfomError(f"{path}: cannot write frame {i}")
    elif fmt == "mp4":
        import imageio.v2 as imageio

        writer = imageio.get_writer(str(path), format="FFMPEG", fps=fps, codec="libx264", quality=10,
                                    pixelformat="yuv444p", macro_block_size=1,
                                    ffmpeg_log_level="error")
        try:
            for frame in frames:
                writer.append_data(frame)
        finally:
            writer.close()
    elif fmt == "gif":
        import imageio.v3 as iio

        iio.imwrite(str(path), np.asarray(frames), extension=".gif", duration=int(round(1000 / fps)), loop=0)
    else:
        raise PpfomError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")


def _frame_count(frames, rng):
    if isinstance(frames, (tuple, list)):
        lo, hi = int(frames[0]), int(frames[1])
        return int(rng.integers(lo, hi + 1))
    return int(frames)


def plan_dataset(n_train, n_test, frames=(32, 64), seed=0, clips_per_identity=1):
    """The clips :func:`make_dataset` writes: a list of dicts (split, name, identity, motion, frames).

    Identity seeds are drawn per split from (seed, split), so train and test people differ."""
    jobs = []
    for split, count, tag in (("train", n_train, 0), ("test", n_test, 1)):
        rng = np.random.default_rng([SYNTHETIC_VERSION, 4, int(seed), tag])
        for i in range(int(count)):
            identity = int(rng.integers(0, 2 ** 62)) * 2 + tag   # the last bit keeps splits apart
            for k in range(int(clips_per_identity)):
                name = f"id{i:05d}" if clips_per_identity == 1 else f"id{i:05d}#{k:02d}"
                jobs.append({"split": split, "name": name, "identity": identity,
                             "motion": int(rng.integers(0, 2 ** 62)), "frames": _frame_count(frames, rng)})
    return jobs


def _render_job(job):
    frames = render_video(job["identity"], job["motion"], job["size"], job["frames"], job["fps"])
    write_video(frames, job["path"], job["fmt"], job["fps"])
    return job["split"], job["name"]


def _parse_frames(frames):
    if isinstance(frames, str):
        text = frames.replace("..", "-").replace(":", "-")
        parts = [x for x in text.split("-") if x.strip()]
        try:
            frames = tuple(int(x) for x in parts) if len(parts) == 2 else int(frames)
        except ValueError:
            raise PpfomError(f"frames {frames!r}: a number or a range like 32..64") from None
    if isinstance(frames, (tuple, list)):
        if len(frames) != 2 or int(frames[0]) > int(frames[1]):
            raise PpfomError(f"frames {frames!r}: a range needs two numbers, low..high")
        low = int(frames[0])
    else:
        low = int(frames)
    if low < 2:
        raise PpfomError(f"frames {frames!r}: a clip needs at least 2 frames")
    return frames


def make_dataset(root, n_train, n_test, size=64, frames=(32, 64), fps=25, fmt="png", seed=0, progress=True,
                 clips_per_identity=1, workers=None, overwrite=False):
    """Render a synthetic talking-head dataset into ``root/train`` and ``root/test``.

    ``frames`` is a number or a (low, high) range drawn per clip. ``fmt``: ``png`` (a folder of
    frames per clip, the default: lossless, and a training pair reads just two small files),
    ``mp4`` (H.264, near-lossless) or ``gif``. The whole dataset is built in a hidden sibling
    folder and renamed to ``root`` at the end, so ``root`` never holds a half-written dataset; an
    existing non-empty ``root`` is replaced only with ``overwrite``. ``workers`` processes render
    in parallel (default: the CPU count). Returns the root as a Path.
    """
    from tqdm import tqdm

    root = Path(root)
    if fmt not in FORMATS:
        raise PpfomError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
    if int(size) < 16 or int(size) % 2:
        raise PpfomError(f"size {size}: an even number of pixels, at least 16")
    if int(n_train) < 0 or int(n_test) < 0 or int(n_train) + int(n_test) == 0:
        raise PpfomError(f"clip counts train={n_train} test={n_test}: at least one clip, none negative")
    if int(clips_per_identity) < 1:
        raise PpfomError(f"clips per identity {clips_per_identity}: at least 1")
    if not float(fps) > 0:
        raise PpfomError(f"fps {fps}: must be positive")
    frames = _parse_frames(frames)
    if root.exists() and (not root.is_dir() or any(root.iterdir())) and not overwrite:
        raise PpfomError(f"{root}: already exists (pass overwrite to replace it)")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    jobs = plan_dataset(n_train, n_test, frames, seed, clips_per_identity)
    for split in ("train", "test"):
        (tmp / split).mkdir(parents=True)
    for job in jobs:
        job.update(size=int(size), fps=float(fps), fmt=fmt,
                   path=str(tmp / job["split"] / (job["name"] + SUFFIX[fmt])))
    workers = min(len(jobs), int(workers or os.cpu_count() or 1))
    try:
        with tqdm(total=len(jobs), desc="make-dataset", unit="clip", disable=not progress, leave=False) as bar:
            if workers <= 1:
                for job in jobs:
                    _render_job(job)
                    bar.update(1)
            else:
                import multiprocessing

                with multiprocessing.get_context("spawn").Pool(workers) as pool:
                    for _ in pool.imap_unordered(_render_job, jobs, chunksize=1):
                        bar.update(1)
        info = {"generator": "ppfom synthetic talking heads", "version": SYNTHETIC_VERSION, "seed": int(seed),
                "size": int(size), "frames": list(frames) if isinstance(frames, tuple) else frames,
                "fps": float(fps), "format": fmt, "train": int(n_train), "test": int(n_test),
                "clips_per_identity": int(clips_per_identity)}
        (tmp / "synthetic.json").write_text(json.dumps(info, indent=1) + "\n")
        old = None
        if root.exists():
            old = root.parent / f".{root.name}.old-{os.getpid()}"
            os.replace(root, old)
        os.replace(tmp, root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root
