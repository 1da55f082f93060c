#include "blend.h"

#include <algorithm>
#include <string>

#include "error.h"

namespace fomm {

Mask::Mask(int h, int w, float fill) : height(h), width(w), data(static_cast<size_t>(h) * w, fill) {
  if (h < 0 || w < 0) throw Error("negative mask size");
}

Mask feathered_rect_mask(int height, int width, int x0, int y0, int x1, int y1, float feather) {
  Mask mask(height, width, 0.0f);
  const int cx0 = std::max(x0, 0), cy0 = std::max(y0, 0);
  const int cx1 = std::min(x1, width), cy1 = std::min(y1, height);
  for (int y = cy0; y < cy1; ++y) {
    for (int x = cx0; x < cx1; ++x) {
      float value = 1.0f;
      if (feather > 0.0f) {
        const float px = x + 0.5f, py = y + 0.5f;
        const float d = std::min(std::min(px - x0, x1 - px), std::min(py - y0, y1 - py));
        value = std::min(1.0f, d / feather);
      }
      mask.data[static_cast<size_t>(y) * width + x] = value;
    }
  }
  return mask;
}

void blend(Image& dst, const Image& src, const Mask& mask, int x, int y) {
  if (mask.height != src.height || mask.width != src.width) {
    throw Error("blend: mask is " + std::to_string(mask.width) + "x" + std::to_string(mask.height) + ", image is " +
                std::to_string(src.width) + "x" + std::to_string(src.height));
  }
  const int sy0 = std::max(0, -y), sy1 = std::min(src.height, dst.height - y);
  const int sx0 = std::max(0, -x), sx1 = std::min(src.width, dst.width - x);
  for (int sy = sy0; sy < sy1; ++sy) {
    for (int sx = sx0; sx < sx1; ++sx) {
      const float m = std::min(1.0f, std::max(0.0f, mask.at(sy, sx)));
      if (m == 0.0f) continue;
      for (int c = 0; c < 3; ++c) {
        uint8_t& out = dst.at(sy + y, sx + x, c);
        const float v = src.at(sy, sx, c) * m + out * (1.0f - m);
        out = static_cast<uint8_t>(std::min(255.0f, v + 0.5f));
      }
    }
  }
}

}  // namespace fomm
