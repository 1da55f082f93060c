#include "image.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "error.h"
#include "fileutil.h"

namespace fomm {

namespace {

constexpr long kMaxSide = 1 << 15;

// Reads the next header token (a decimal number or the magic) of a PPM, skipping whitespace and
// comments. Returns false at end of data.
bool next_token(const std::string& bytes, size_t& pos, std::string& token) {
  token.clear();
  while (pos < bytes.size()) {
    char c = bytes[pos];
    if (c == '#') {
      while (pos < bytes.size() && bytes[pos] != '\n' && bytes[pos] != '\r') ++pos;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++pos;
    } else {
      break;
    }
  }
  while (pos < bytes.size() && !std::isspace(static_cast<unsigned char>(bytes[pos])) && bytes[pos] != '#') {
    token.push_back(bytes[pos++]);
  }
  return !token.empty();
}

long header_number(const std::string& bytes, size_t& pos, const std::string& name, const char* field) {
  std::string token;
  if (!next_token(bytes, pos, token)) throw Error(name + ": truncated PPM header (no " + field + ")");
  if (token.size() > 9 || !std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw Error(name + ": bad PPM " + field + " '" + token + "'");
  }
  return std::stol(token);
}

uint8_t to_byte(float v) {
  if (!(v > 0.0f)) return 0;  // also NaN
  if (v >= 1.0f) return 255;
  return static_cast<uint8_t>(v * 255.0f + 0.5f);
}

}  // namespace

Image::Image(int h, int w, uint8_t fill) : height(h), width(w), data(static_cast<size_t>(h) * w * 3, fill) {
  if (h < 0 || w < 0) throw Error("negative image size");
}

Image decode_ppm(const std::string& bytes, const std::string& name) {
  size_t pos = 0;
  std::string magic;
  if (!next_token(bytes, pos, magic)) throw Error(name + ": empty file, expected a binary PPM (P6)");
  if (magic != "P6") {
    throw Error(name + ": not a binary PPM (P6) image (starts with '" + magic.substr(0, 8) +
                "'); convert it, e.g. ffmpeg -i in.png -pix_fmt rgb24 out.ppm");
  }
  long width = header_number(bytes, pos, name, "width");
  long height = header_number(bytes, pos, name, "height");
  long maxval = header_number(bytes, pos, name, "maxval");
  if (width < 1 || height < 1 || width > kMaxSide || height > kMaxSide) {
    throw Error(name + ": bad PPM size " + std::to_string(width) + "x" + std::to_string(height));
  }
  if (maxval < 1 || maxval > 65535) throw Error(name + ": bad PPM maxval " + std::to_string(maxval));
  if (maxval > 255) throw Error(name + ": 16-bit PPM is not supported; write 8-bit (ffmpeg -pix_fmt rgb24)");
  // Exactly one whitespace byte separates maxval from the pixels.
  if (pos >= bytes.size() || !std::isspace(static_cast<unsigned char>(bytes[pos]))) {
    throw Error(name + ": truncated PPM header");
  }
  ++pos;
  size_t count = static_cast<size_t>(width) * height * 3;
  if (bytes.size() - pos < count) {
    throw Error(name + ": truncated PPM data (" + std::to_string(bytes.size() - pos) + " of " +
                std::to_string(count) + " bytes for " + std::to_string(width) + "x" + std::to_string(height) + ")");
  }
  Image image(static_cast<int>(height), static_cast<int>(width));
  const uint8_t* src = reinterpret_cast<const uint8_t*>(bytes.data()) + pos;
  if (maxval == 255) {
    std::copy(src, src + count, image.data.begin());
  } else {
    for (size_t i = 0; i < count; ++i) {
      long v = std::min<long>(src[i], maxval);
      image.data[i] = static_cast<uint8_t>((v * 255 + maxval / 2) / maxval);
    }
  }
  return image;
}

std::string encode_ppm(const Image& image) {
  if (image.empty()) throw Error("cannot write an empty image");
  std::string header = "P6\n" + std::to_string(image.width) + " " + std::to_string(image.height) + "\n255\n";
  std::string bytes = header;
  bytes.append(reinterpret_cast<const char*>(image.data.data()), image.data.size());
  return bytes;
}

Image read_ppm(const std::string& path) { return decode_ppm(read_file(path), path); }

void write_ppm(const std::string& path, const Image& image) { write_file_atomic(path, encode_ppm(image)); }

std::vector<float> to_nchw(const Image& image) {
  const size_t plane = static_cast<size_t>(image.height) * image.width;
  std::vector<float> out(plane * 3);
  for (size_t i = 0; i < plane; ++i) {
    for (int c = 0; c < 3; ++c) out[c * plane + i] = image.data[i * 3 + c] / 255.0f;
  }
  return out;
}

Image from_nchw(const float* data, int height, int width) {
  Image image(height, width);
  const size_t plane = static_cast<size_t>(height) * width;
  for (size_t i = 0; i < plane; ++i) {
    for (int c = 0; c < 3; ++c) image.data[i * 3 + c] = to_byte(data[c * plane + i]);
  }
  return image;
}

namespace {

// Source index pair and weight of the second one, for one output coordinate (OpenCV's rules:
// clamp below at 0, and at the last pixel use it alone).
struct Tap {
  int i0, i1;
  float w1;
};

std::vector<Tap> taps(int in_size, int out_size) {
  std::vector<Tap> result(out_size);
  const double scale = static_cast<double>(in_size) / out_size;
  for (int o = 0; o < out_size; ++o) {
    double pos = (o + 0.5) * scale - 0.5;
    int i0 = static_cast<int>(std::floor(pos));
    double frac = pos - i0;
    if (i0 < 0) {
      i0 = 0;
      frac = 0.0;
    }
    if (i0 >= in_size - 1) {
      i0 = in_size - 1;
      frac = 0.0;
    }
    result[o] = Tap{i0, std::min(i0 + 1, in_size - 1), static_cast<float>(frac)};
  }
  return result;
}

}  // namespace

Image resize_bilinear(const Image& image, int out_height, int out_width) {
  if (image.empty()) throw Error("cannot resize an empty image");
  if (out_height < 1 || out_width < 1) throw Error("bad resize target " + std::to_string(out_width) + "x" + std::to_string(out_height));
  const std::vector<Tap> ty = taps(image.height, out_height);
  const std::vector<Tap> tx = taps(image.width, out_width);
  Image out(out_height, out_width);
  for (int y = 0; y < out_height; ++y) {
    const Tap& a = ty[y];
    for (int x = 0; x < out_width; ++x) {
      const Tap& b = tx[x];
      for (int c = 0; c < 3; ++c) {
        float top = image.at(a.i0, b.i0, c) * (1.0f - b.w1) + image.at(a.i0, b.i1, c) * b.w1;
        float bottom = image.at(a.i1, b.i0, c) * (1.0f - b.w1) + image.at(a.i1, b.i1, c) * b.w1;
        float v = top * (1.0f - a.w1) + bottom * a.w1;
        out.at(y, x, c) = static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, v)) + 0.5f);
      }
    }
  }
  return out;
}

Image center_crop_square(const Image& image) {
  if (image.empty()) throw Error("cannot crop an empty image");
  const int side = std::min(image.height, image.width);
  const int y0 = (image.height - side) / 2;
  const int x0 = (image.width - side) / 2;
  Image out(side, side);
  for (int y = 0; y < side; ++y) {
    const uint8_t* row = &image.data[(static_cast<size_t>(y0 + y) * image.width + x0) * 3];
    std::copy(row, row + static_cast<size_t>(side) * 3, &out.data[static_cast<size_t>(y) * side * 3]);
  }
  return out;
}

Image prepare_square(const Image& image, int size) {
  Image square = image.height == image.width ? image : center_crop_square(image);
  if (square.height == size) return square;
  return resize_bilinear(square, size, size);
}

}  // namespace fomm
