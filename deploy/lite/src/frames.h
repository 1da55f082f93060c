// A driving "video" is a folder of numbered PPM frames (frame_000001.ppm, frame_000002.ppm, ...),
// read one at a time in natural order: only the file names are listed up front, pixels are read
// when a frame is asked for, so memory does not grow with the number of frames.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "image.h"

namespace fomm {

// Natural order: digit runs compare as numbers ("frame_2" < "frame_10"), the rest byte-wise.
bool natural_less(const std::string& a, const std::string& b);

// The name of the index-th output frame (0-based): frame_000001.ppm, frame_000002.ppm, ...
// (ffmpeg pattern frame_%06d.ppm).
std::string frame_file_name(size_t index);

class FrameSequence {
 public:
  // Lists the *.ppm files (any case of the extension) of `dir`, skipping hidden files (names
  // starting with '.', such as our temporary files). Throws Error if the folder is missing or
  // holds no PPM frame.
  explicit FrameSequence(const std::string& dir);

  size_t size() const { return names_.size(); }
  std::string path(size_t index) const;
  Image read(size_t index) const;

  // Reads the next frame into `image` (and its path into `path` if given); false at the end.
  bool next(Image& image, std::string* path = nullptr);

 private:
  std::string dir_;
  std::vector<std::string> names_;
  size_t position_ = 0;
};

}  // namespace fomm
