#include "blend.h"
#include "check.h"
#include "error.h"

TEST(feathered_mask_values) {
  fomm::Mask hard = fomm::feathered_rect_mask(4, 5, 1, 1, 4, 3, 0.0f);
  CHECK_EQ(hard.at(0, 0), 0.0f);
  CHECK_EQ(hard.at(1, 1), 1.0f);
  CHECK_EQ(hard.at(2, 3), 1.0f);
  CHECK_EQ(hard.at(2, 4), 0.0f);
  CHECK_EQ(hard.at(3, 2), 0.0f);

  fomm::Mask soft = fomm::feathered_rect_mask(20, 20, 0, 0, 20, 20, 4.0f);
  CHECK_NEAR(soft.at(10, 0), 0.5 / 4, 1e-6);   // edge pixel center is 0.5 px inside
  CHECK_NEAR(soft.at(10, 1), 1.5 / 4, 1e-6);
  CHECK_NEAR(soft.at(10, 19), 0.5 / 4, 1e-6);
  CHECK_NEAR(soft.at(0, 0), 0.5 / 4, 1e-6);    // corner: nearest border
  CHECK_NEAR(soft.at(10, 10), 1.0, 1e-6);
  CHECK_NEAR(soft.at(4, 10), 1.0, 1e-6);       // 4.5 px inside
  // the ramp is symmetric and monotonic towards the middle
  for (int x = 0; x < 9; ++x) {
    CHECK(soft.at(10, x) <= soft.at(10, x + 1));
    CHECK_NEAR(soft.at(10, x), soft.at(10, 19 - x), 1e-6);
  }
  // a rectangle partly outside the mask is clipped, its ramp still measured from its own border
  fomm::Mask clipped = fomm::feathered_rect_mask(10, 10, -5, -5, 5, 5, 2.0f);
  CHECK_NEAR(clipped.at(0, 0), 1.0, 1e-6);
  CHECK_NEAR(clipped.at(0, 4), 0.25, 1e-6);
  CHECK_EQ(clipped.at(0, 5), 0.0f);
}

TEST(blend_alpha_and_offsets) {
  fomm::Image dst(4, 4, 100), src(2, 2, 200);
  fomm::blend(dst, src, fomm::Mask(2, 2, 1.0f), 1, 1);
  CHECK_EQ(int(dst.at(1, 1, 0)), 200);
  CHECK_EQ(int(dst.at(2, 2, 2)), 200);
  CHECK_EQ(int(dst.at(0, 0, 0)), 100);
  CHECK_EQ(int(dst.at(3, 3, 0)), 100);

  fomm::Image half(4, 4, 100);
  fomm::blend(half, src, fomm::Mask(2, 2, 0.5f));
  CHECK_EQ(int(half.at(0, 0, 0)), 150);
  CHECK_EQ(int(half.at(1, 1, 1)), 150);
  CHECK_EQ(int(half.at(2, 2, 1)), 100);

  fomm::Image none(4, 4, 100);
  fomm::blend(none, src, fomm::Mask(2, 2, -3.0f));  // clamped to 0
  CHECK_EQ(int(none.at(0, 0, 0)), 100);
  fomm::blend(none, src, fomm::Mask(2, 2, 7.0f));   // clamped to 1
  CHECK_EQ(int(none.at(0, 0, 0)), 200);

  // partly outside: only the overlap changes, no out-of-bounds writes
  fomm::Image edge(3, 3, 0);
  fomm::blend(edge, fomm::Image(2, 2, 50), fomm::Mask(2, 2, 1.0f), -1, 2);
  CHECK_EQ(int(edge.at(2, 0, 0)), 50);
  CHECK_EQ(int(edge.at(2, 1, 0)), 0);
  CHECK_EQ(int(edge.at(1, 0, 0)), 0);
  fomm::blend(edge, fomm::Image(2, 2, 50), fomm::Mask(2, 2, 1.0f), 10, 10);  // fully outside

  CHECK_THROWS(fomm::blend(dst, src, fomm::Mask(3, 2, 1.0f)), "blend: mask is 2x3, image is 2x2");
}

TEST(blend_with_feathered_mask) {
  fomm::Image dst(8, 8, 0), src(8, 8, 255);
  fomm::blend(dst, src, fomm::feathered_rect_mask(8, 8, 0, 0, 8, 8, 2.0f));
  CHECK_EQ(int(dst.at(4, 4, 0)), 255);
  CHECK_EQ(int(dst.at(4, 0, 0)), 64);   // 255 * 0.25 = 63.75
  CHECK_EQ(int(dst.at(4, 1, 0)), 191);  // 255 * 0.75 = 191.25
}
