// Command-line flags of fomm_lite_demo (kept in the library so that they are unit-tested).
#pragma once

#include <string>

#include "animate.h"

namespace fomm {

struct DemoArgs {
  std::string kp_model;    // --kp_model  kp_detector.nb
  std::string gen_model;   // --gen_model generator.nb
  std::string encoder_model;  // --encoder_model source_encoder.nb  (the cached variant: with
  std::string decoder_model;  // --decoder_model frame_decoder.nb    these two, no --gen_model)
  std::string source;      // --source    source.ppm
  std::string driving_dir; // --driving_dir frames/
  std::string output_dir;  // --output_dir out/
  int threads = 1;         // --threads N
  bool quiet = false;      // --quiet: no per-frame lines
  bool help = false;       // --help / -h
  AnimateOptions options;  // --size, --relative, --adapt_scale, --overwrite, --max_frames
};

// Accepts "--flag value" and "--flag=value"; boolean flags also take =1/0/true/false. Throws Error
// with a one-line message for unknown flags, missing values or required flags, and bad numbers.
DemoArgs parse_demo_args(int argc, const char* const* argv);

std::string demo_usage(const std::string& program);

}  // namespace fomm
