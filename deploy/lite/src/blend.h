// Alpha blending with a soft mask: used to paste an animated face crop back into a full frame.
#pragma once

#include <vector>

#include "image.h"

namespace fomm {

// A single-channel float mask, H x W row-major, values in [0, 1] (1 = take the pasted image).
struct Mask {
  int height = 0;
  int width = 0;
  std::vector<float> data;

  Mask() = default;
  Mask(int height, int width, float fill = 0.0f);
  float at(int y, int x) const { return data[static_cast<size_t>(y) * width + x]; }
};

// A height x width mask that is 0 outside the rectangle [x0, x1) x [y0, y1) (clipped to the
// mask) and, inside, ramps linearly from 0 at the rectangle's border to 1 at `feather` pixels
// from it, measured from pixel centers to the nearest border (so the ramp is the same on all four
// sides and the corners are mitred). feather <= 0 gives a hard-edged rectangle of ones.
Mask feathered_rect_mask(int height, int width, int x0, int y0, int x1, int y1, float feather);

// dst = src * m + dst * (1 - m), rounded, with src and mask placed with their top-left corner at
// (x, y) of dst; the parts that fall outside dst are ignored. mask must have src's size; its
// values are clamped to [0, 1]. Throws Error on a size mismatch.
void blend(Image& dst, const Image& src, const Mask& mask, int x = 0, int y = 0);

}  // namespace fomm
