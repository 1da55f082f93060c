// ModelRunner backed by Paddle Lite's light API (MobileConfig + .nb models). This header does not
// include Paddle Lite; only lite_runner.cc does.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runner.h"

namespace fomm {

struct LiteModelSpec {
  std::string name;  // the name ModelRunner::run is called with, e.g. kKpDetectorModel
  std::string path;  // an optimized .nb model (Paddle Lite opt / paddlelite's Opt)
};

// Loads every model (one predictor each) with `threads` CPU threads. Throws fomm::Error when a
// model file is missing.
std::unique_ptr<ModelRunner> make_lite_runner(const std::vector<LiteModelSpec>& models, int threads);

}  // namespace fomm
