// RGB images: binary PPM (P6) files, float NCHW tensors, bilinear resize and center crop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fomm {

// H x W x 3 uint8, interleaved RGB, row-major (the layout of a P6 PPM's pixel data).
struct Image {
  int height = 0;
  int width = 0;
  std::vector<uint8_t> data;

  Image() = default;
  Image(int height, int width, uint8_t fill = 0);

  bool empty() const { return height == 0 || width == 0; }
  uint8_t& at(int y, int x, int c) { return data[(static_cast<size_t>(y) * width + x) * 3 + c]; }
  uint8_t at(int y, int x, int c) const { return data[(static_cast<size_t>(y) * width + x) * 3 + c]; }
};

// Parses a binary PPM (P6) held in memory. Comments ('#' to end of line) are allowed in the
// header. maxval must be 1..255 (values are rescaled to 0..255 when it is not 255); 16-bit PPMs
// are refused. `name` is used in error messages.
Image decode_ppm(const std::string& bytes, const std::string& name);
std::string encode_ppm(const Image& image);

// Read/write a P6 file. write_ppm writes a temporary file and renames it, so a crash never
// leaves half a frame behind. Both throw fomm::Error with a one-line message.
Image read_ppm(const std::string& path);
void write_ppm(const std::string& path, const Image& image);

// (1, 3, H, W) float32 in [0, 1], RGB planes (value / 255).
std::vector<float> to_nchw(const Image& image);
// Inverse of to_nchw for a (1, 3, H, W) buffer: clamps to [0, 1], scales by 255, rounds.
Image from_nchw(const float* data, int height, int width);

// Bilinear resize with half-pixel centers, the convention of OpenCV's INTER_LINEAR (and of
// align_corners=False): output pixel x samples input position (x + 0.5) * in_w / out_w - 0.5,
// clamped to the image (edge pixels are replicated). Results are rounded to nearest; OpenCV's
// fixed-point arithmetic can differ by 1. No anti-aliasing: to shrink a lot, shrink in steps or
// prepare frames at the model size with ffmpeg.
Image resize_bilinear(const Image& image, int out_height, int out_width);

// The largest centered square: offset (H - S) / 2, (W - S) / 2 rounded down, S = min(H, W).
Image center_crop_square(const Image& image);

// What the demo does to every picture: center crop to a square, then resize to size x size
// (the resize is skipped when the crop already has that size).
Image prepare_square(const Image& image, int size);

}  // namespace fomm
