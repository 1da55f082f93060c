// The only thing the animation loop needs from an inference engine: run a named model on float
// tensors. lite_runner.cc implements it with Paddle Lite; the tests use a fake.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fomm {

// A dense float32 tensor (row-major). The runner copies outputs into it, so it stays valid after
// the next run.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> data;

  Tensor() = default;
  Tensor(std::vector<int64_t> shape_, std::vector<float> data_) : shape(std::move(shape_)), data(std::move(data_)) {}

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  std::string shape_string() const {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

// Names under which the models are registered (those of tools/export_model.py). More can be
// added without changing the interface.
constexpr const char* kKpDetectorModel = "kp_detector";
constexpr const char* kGeneratorModel = "generator";
// The cached variant: the source encoder runs once per source image, the frame decoder per frame.
constexpr const char* kSourceEncoderModel = "source_encoder";
constexpr const char* kFrameDecoderModel = "frame_decoder";

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  // Runs `model` on `inputs` (in the model's input order) and returns its outputs in order.
  // Throws fomm::Error when the model is unknown or the inputs do not fit.
  virtual std::vector<Tensor> run(const std::string& model, const std::vector<Tensor>& inputs) = 0;
};

}  // namespace fomm
