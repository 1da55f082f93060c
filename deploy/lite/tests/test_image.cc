#include <algorithm>

#include "check.h"
#include "error.h"
#include "fileutil.h"
#include "image.h"

using fomm::Image;

namespace {

Image pattern(int h, int w) {
  Image img(h, w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.at(y, x, c) = static_cast<uint8_t>((x * 37 + y * 11 + c * 80) % 256);
  return img;
}

}  // namespace

TEST(ppm_round_trip) {
  Image img = pattern(5, 7);
  Image back = fomm::decode_ppm(fomm::encode_ppm(img), "mem");
  CHECK_EQ(back.height, 5);
  CHECK_EQ(back.width, 7);
  CHECK(back.data == img.data);
  CHECK(fomm::encode_ppm(img).compare(0, 11, "P6\n7 5\n255\n") == 0);
}

TEST(ppm_header_comments_and_small_maxval) {
  std::string bytes = "P6 # a comment\n# another\n2 1\n15\n";
  const unsigned char px[] = {0, 15, 7, 15, 0, 20};  // 20 > maxval is clamped
  bytes.append(reinterpret_cast<const char*>(px), sizeof(px));
  Image img = fomm::decode_ppm(bytes, "mem");
  CHECK_EQ(img.width, 2);
  CHECK_EQ(img.height, 1);
  CHECK_EQ(int(img.at(0, 0, 0)), 0);
  CHECK_EQ(int(img.at(0, 0, 1)), 255);
  CHECK_EQ(int(img.at(0, 0, 2)), 119);  // 7 * 255 / 15
  CHECK_EQ(int(img.at(0, 1, 2)), 255);
}

TEST(ppm_bad_input_errors) {
  CHECK_THROWS(fomm::decode_ppm("", "e.ppm"), "e.ppm: empty file");
  CHECK_THROWS(fomm::decode_ppm("P3\n1 1\n255\n0 0 0\n", "a.ppm"), "not a binary PPM (P6)");
  CHECK_THROWS(fomm::decode_ppm(std::string("\x89PNG\r\n", 6), "b.png"), "b.png: not a binary PPM");
  CHECK_THROWS(fomm::decode_ppm("P6\n2 2\n255\n" + std::string(11, 'x'), "t.ppm"), "truncated PPM data (11 of 12");
  CHECK_THROWS(fomm::decode_ppm("P6\n2 2\n", "h.ppm"), "truncated PPM header");
  CHECK_THROWS(fomm::decode_ppm("P6\n2 2\n255", "h.ppm"), "truncated PPM header");
  CHECK_THROWS(fomm::decode_ppm("P6\n2 2\n65535\n" + std::string(24, 'x'), "w.ppm"), "16-bit");
  CHECK_THROWS(fomm::decode_ppm("P6\n0 2\n255\n", "z.ppm"), "bad PPM size 0x2");
  CHECK_THROWS(fomm::decode_ppm("P6\n-3 2\n255\n", "n.ppm"), "bad PPM width");
  CHECK_THROWS(fomm::decode_ppm("P6\n99999999 99999999\n255\n", "big.ppm"), "bad PPM size");
  const std::string dir = fomm_test::temp_dir();
  CHECK_THROWS(fomm::read_ppm(dir + "/missing.ppm"), "file not found: " + dir + "/missing.ppm");
  CHECK_THROWS(fomm::read_ppm(dir), "expected a file, got a folder");
}

TEST(write_ppm_is_atomic_and_reports_errors) {
  const std::string dir = fomm_test::temp_dir();
  const std::string path = dir + "/out.ppm";
  fomm::write_ppm(path, pattern(3, 4));
  fomm::write_ppm(path, pattern(4, 3));  // replaces
  std::vector<std::string> names = fomm::list_dir(dir);
  CHECK_EQ(names.size(), size_t(1));
  CHECK_EQ(names[0], std::string("out.ppm"));
  CHECK(fomm::read_ppm(path).data == pattern(4, 3).data);
  CHECK_THROWS(fomm::write_ppm(dir + "/no/such/dir/x.ppm", pattern(2, 2)), "cannot write " + dir + "/no/such/dir/x.ppm");
  CHECK_THROWS(fomm::write_ppm(dir + "/empty.ppm", Image()), "empty image");
  CHECK_EQ(fomm::list_dir(dir).size(), size_t(1));
}

TEST(nchw_layout_and_round_trip) {
  Image img = pattern(3, 4);
  std::vector<float> t = fomm::to_nchw(img);
  CHECK_EQ(t.size(), size_t(3 * 3 * 4));
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) CHECK_NEAR(t[(c * 3 + y) * 4 + x], img.at(y, x, c) / 255.0, 1e-7);
  Image back = fomm::from_nchw(t.data(), 3, 4);
  CHECK(back.data == img.data);
  // every byte value survives the trip
  Image all(1, 256);
  for (int x = 0; x < 256; ++x) all.at(0, x, 0) = all.at(0, x, 1) = all.at(0, x, 2) = static_cast<uint8_t>(x);
  CHECK(fomm::from_nchw(fomm::to_nchw(all).data(), 1, 256).data == all.data);
}

TEST(from_nchw_clamps_and_rounds) {
  const float v[3] = {-0.5f, 1.7f, 0.5f};
  Image img = fomm::from_nchw(v, 1, 1);
  CHECK_EQ(int(img.at(0, 0, 0)), 0);
  CHECK_EQ(int(img.at(0, 0, 1)), 255);
  CHECK_EQ(int(img.at(0, 0, 2)), 128);  // 127.5 rounds up
  const float nan[3] = {std::nanf(""), 0.0f, 1.0f};
  CHECK_EQ(int(fomm::from_nchw(nan, 1, 1).at(0, 0, 0)), 0);
}

TEST(resize_half_pixel_centers_like_opencv) {
  Image row(1, 2);
  for (int c = 0; c < 3; ++c) {
    row.at(0, 0, c) = 0;
    row.at(0, 1, c) = 100;
  }
  Image up = fomm::resize_bilinear(row, 1, 4);
  // input positions -0.25 (clamped to 0), 0.25, 0.75, 1.25 (past the last pixel: the last pixel)
  CHECK_EQ(int(up.at(0, 0, 0)), 0);
  CHECK_EQ(int(up.at(0, 1, 0)), 25);
  CHECK_EQ(int(up.at(0, 2, 1)), 75);
  CHECK_EQ(int(up.at(0, 3, 2)), 100);
  Image quad(1, 4);
  const int vals[4] = {0, 10, 100, 200};
  for (int x = 0; x < 4; ++x)
    for (int c = 0; c < 3; ++c) quad.at(0, x, c) = static_cast<uint8_t>(vals[x]);
  Image down = fomm::resize_bilinear(quad, 1, 2);  // positions 0.5 and 2.5
  CHECK_EQ(int(down.at(0, 0, 0)), 5);
  CHECK_EQ(int(down.at(0, 1, 0)), 150);
  Image img = pattern(6, 9);
  CHECK(fomm::resize_bilinear(img, 6, 9).data == img.data);
  Image flat(7, 5, 42);
  Image r = fomm::resize_bilinear(flat, 13, 3);
  CHECK_EQ(r.height, 13);
  CHECK_EQ(r.width, 3);
  CHECK(std::all_of(r.data.begin(), r.data.end(), [](uint8_t v) { return v == 42; }));
  CHECK_THROWS(fomm::resize_bilinear(img, 0, 3), "bad resize target");
}

TEST(center_crop_square) {
  Image wide = pattern(4, 7);
  Image c = fomm::center_crop_square(wide);
  CHECK_EQ(c.height, 4);
  CHECK_EQ(c.width, 4);
  CHECK_EQ(int(c.at(2, 0, 1)), int(wide.at(2, 1, 1)));  // offset (7 - 4) / 2 = 1
  Image tall = pattern(5, 2);
  Image t = fomm::center_crop_square(tall);
  CHECK_EQ(t.height, 2);
  CHECK_EQ(int(t.at(0, 1, 2)), int(tall.at(1, 1, 2)));  // offset (5 - 2) / 2 = 1
  Image p = fomm::prepare_square(pattern(30, 50), 16);
  CHECK_EQ(p.height, 16);
  CHECK_EQ(p.width, 16);
  Image same = pattern(16, 16);
  CHECK(fomm::prepare_square(same, 16).data == same.data);
}
