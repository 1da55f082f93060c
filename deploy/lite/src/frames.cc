#include "frames.h"

#include <algorithm>
#include <cstdio>

#include "error.h"
#include "fileutil.h"

namespace fomm {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool has_ppm_extension(const std::string& name) {
  if (name.size() < 5) return false;
  std::string ext = name.substr(name.size() - 4);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
  return ext == ".ppm";
}

}  // namespace

bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (is_digit(a[i]) && is_digit(b[j])) {
      size_t i_end = i, j_end = j;
      while (i_end < a.size() && is_digit(a[i_end])) ++i_end;
      while (j_end < b.size() && is_digit(b[j_end])) ++j_end;
      size_t i_nz = i, j_nz = j;  // skip leading zeros
      while (i_nz + 1 < i_end && a[i_nz] == '0') ++i_nz;
      while (j_nz + 1 < j_end && b[j_nz] == '0') ++j_nz;
      size_t len_a = i_end - i_nz, len_b = j_end - j_nz;
      if (len_a != len_b) return len_a < len_b;
      int cmp = a.compare(i_nz, len_a, b, j_nz, len_b);
      if (cmp != 0) return cmp < 0;
      if (i_end - i != j_end - j) return i_end - i < j_end - j;  // fewer leading zeros first
      i = i_end;
      j = j_end;
    } else {
      if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::string frame_file_name(size_t index) {
  char name[64];
  std::snprintf(name, sizeof(name), "frame_%06lu.ppm", static_cast<unsigned long>(index + 1));
  return name;
}

FrameSequence::FrameSequence(const std::string& dir) : dir_(dir) {
  if (!is_dir(dir)) {
    if (is_file(dir)) throw Error("driving frames: expected a folder of PPM frames, got a file: " + dir);
    throw Error("driving frames folder not found: " + dir);
  }
  for (const std::string& name : list_dir(dir)) {
    if (name[0] != '.' && has_ppm_extension(name) && is_file(join_path(dir, name))) names_.push_back(name);
  }
  if (names_.empty()) {
    throw Error("no .ppm frames in " + dir + " (make them with: ffmpeg -i driving.mp4 -vf scale=256:256 " +
                join_path(dir, "frame_%06d.ppm") + ")");
  }
  std::sort(names_.begin(), names_.end(), natural_less);
}

std::string FrameSequence::path(size_t index) const {
  if (index >= names_.size()) throw Error("frame index out of range");
  return join_path(dir_, names_[index]);
}

Image FrameSequence::read(size_t index) const { return read_ppm(path(index)); }

bool FrameSequence::next(Image& image, std::string* path_out) {
  if (position_ >= names_.size()) return false;
  std::string p = path(position_++);
  image = read_ppm(p);
  if (path_out != nullptr) *path_out = p;
  return true;
}

}  // namespace fomm
