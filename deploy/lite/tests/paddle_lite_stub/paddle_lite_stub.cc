// A fake predictor behind the stub paddle_api.h, for the end-to-end test of fomm_lite_demo.
// The "model file" is a text file whose first word picks the behaviour:
//   fomm-stub-kp <K>     input (1,3,H,W) -> value (1,K,2), jacobian (1,K,2,2) that depend on the
//                        image's mean brightness
//   fomm-stub-generator  five inputs -> output 0 = input 0 (the source)
//   fomm-stub-encoder    input source (1,3,H,W) -> features = the source, source_small (1,3,H/2,W/2)
//   fomm-stub-decoder    six inputs (source_small, features, keypoints) -> output 0 = features
// Anything else makes CreatePaddlePredictor throw (the real library would abort).
#include <cmath>
#include <fstream>
#include <stdexcept>

#include "paddle_api.h"

namespace paddle {
namespace lite_api {

struct StubTensorData {
  shape_t shape;
  std::vector<float> values;
};

Tensor::Tensor(void* raw) : raw_tensor_(raw) {}
Tensor::Tensor(const void* raw) : raw_tensor_(const_cast<void*>(raw)) {}

void Tensor::Resize(const shape_t& shape) {
  StubTensorData* t = static_cast<StubTensorData*>(raw_tensor_);
  t->shape = shape;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  t->values.resize(static_cast<size_t>(n));
}

template <>
const float* Tensor::data<float>() const {
  return static_cast<StubTensorData*>(raw_tensor_)->values.data();
}

template <>
float* Tensor::mutable_data<float>(TargetType) const {
  return static_cast<StubTensorData*>(raw_tensor_)->values.data();
}

shape_t Tensor::shape() const { return static_cast<StubTensorData*>(raw_tensor_)->shape; }

namespace {

enum class Kind { kKp, kGenerator, kEncoder, kDecoder };

class StubPredictor : public PaddlePredictor {
 public:
  StubPredictor(Kind kind, int K)
      : kind_(kind), K_(K), inputs_(GetInputNames().size()), outputs_(GetOutputNames().size()) {}

  std::unique_ptr<Tensor> GetInput(int i) override { return std::unique_ptr<Tensor>(new Tensor(&inputs_.at(i))); }
  std::unique_ptr<const Tensor> GetOutput(int i) const override {
    return std::unique_ptr<const Tensor>(new Tensor(&outputs_.at(i)));
  }
  std::vector<std::string> GetInputNames() override {
    switch (kind_) {
      case Kind::kKp:
      case Kind::kEncoder:
        return {"image"};
      case Kind::kGenerator:
        return {"source", "kp_source_value", "kp_source_jacobian", "kp_driving_value", "kp_driving_jacobian"};
      default:
        return {"source_small", "features", "kp_source_value", "kp_source_jacobian", "kp_driving_value",
                "kp_driving_jacobian"};
    }
  }
  std::vector<std::string> GetOutputNames() override {
    if (kind_ == Kind::kKp) return {"value", "jacobian"};
    if (kind_ == Kind::kEncoder) return {"features", "source_small"};
    return {"prediction"};
  }

  void Run() override {
    if (kind_ == Kind::kGenerator) {
      outputs_[0] = inputs_[0];
      return;
    }
    if (kind_ == Kind::kDecoder) {
      outputs_[0] = inputs_[1];
      return;
    }
    if (kind_ == Kind::kEncoder) {
      outputs_[0] = inputs_[0];
      const shape_t& s = inputs_[0].shape;
      outputs_[1].shape = {1, 3, s.at(2) / 2, s.at(3) / 2};
      outputs_[1].values.assign(static_cast<size_t>(3 * (s[2] / 2) * (s[3] / 2)), 0.5f);
      return;
    }
    double mean = 0;
    for (float v : inputs_[0].values) mean += v;
    mean /= inputs_[0].values.empty() ? 1 : inputs_[0].values.size();
    StubTensorData& value = outputs_[0];
    StubTensorData& jac = outputs_[1];
    value.shape = {1, K_, 2};
    jac.shape = {1, K_, 2, 2};
    value.values.assign(2 * K_, 0.0f);
    jac.values.assign(4 * K_, 0.0f);
    for (int k = 0; k < K_; ++k) {
      const double angle = 6.283185307179586 * k / K_;
      value.values[2 * k] = static_cast<float>(0.5 * (1 + mean) * std::cos(angle) + 0.1 * mean);
      value.values[2 * k + 1] = static_cast<float>(0.5 * (1 + mean) * std::sin(angle));
      jac.values[4 * k] = static_cast<float>(1 + mean);
      jac.values[4 * k + 3] = 1.0f;
    }
  }

 private:
  Kind kind_;
  int K_;
  std::vector<StubTensorData> inputs_;
  mutable std::vector<StubTensorData> outputs_;
};

}  // namespace

template <>
std::shared_ptr<PaddlePredictor> CreatePaddlePredictor<MobileConfig>(const MobileConfig& config) {
  std::ifstream file(config.lite_model_file());
  std::string kind;
  file >> kind;
  if (kind == "fomm-stub-kp") {
    int K = 0;
    file >> K;
    if (K < 1) throw std::runtime_error("stub model " + config.lite_model_file() + ": bad K");
    return std::make_shared<StubPredictor>(Kind::kKp, K);
  }
  if (kind == "fomm-stub-generator") return std::make_shared<StubPredictor>(Kind::kGenerator, 0);
  if (kind == "fomm-stub-encoder") return std::make_shared<StubPredictor>(Kind::kEncoder, 0);
  if (kind == "fomm-stub-decoder") return std::make_shared<StubPredictor>(Kind::kDecoder, 0);
  throw std::runtime_error("stub Paddle Lite: " + config.lite_model_file() + " is not a stub model");
}

}  // namespace lite_api
}  // namespace paddle
