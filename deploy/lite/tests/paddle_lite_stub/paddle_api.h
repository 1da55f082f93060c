// NOT Paddle Lite. A stand-in for the few declarations of Paddle Lite's paddle_api.h that
// src/lite_runner.cc uses, written from the documented API (namespace paddle::lite_api,
// MobileConfig, CreatePaddlePredictor<MobileConfig>, PaddlePredictor, Tensor). It lets the tests
// compile lite_runner.cc and main.cc and run fomm_lite_demo end to end with a fake predictor
// (paddle_lite_stub.cc). It says nothing about whether the real library links or runs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace paddle {
namespace lite_api {

using shape_t = std::vector<int64_t>;

enum class TargetType : int { kUnk = 0, kHost = 1, kARM = 4 };

typedef enum {
  LITE_POWER_HIGH = 0,
  LITE_POWER_LOW = 1,
  LITE_POWER_FULL = 2,
  LITE_POWER_NO_BIND = 3,
  LITE_POWER_RAND_HIGH = 4,
  LITE_POWER_RAND_LOW = 5
} PowerMode;

struct StubTensorData;

struct Tensor {
  explicit Tensor(void* raw);
  explicit Tensor(const void* raw);

  void Resize(const shape_t& shape);

  template <typename T>
  const T* data() const;

  template <typename T>
  T* mutable_data(TargetType type = TargetType::kHost) const;

  shape_t shape() const;

 private:
  void* raw_tensor_;
};

class PaddlePredictor {
 public:
  PaddlePredictor() = default;
  virtual ~PaddlePredictor() = default;
  virtual std::unique_ptr<Tensor> GetInput(int i) = 0;
  virtual std::unique_ptr<const Tensor> GetOutput(int i) const = 0;
  virtual void Run() = 0;
  virtual std::vector<std::string> GetInputNames() = 0;
  virtual std::vector<std::string> GetOutputNames() = 0;
};

class ConfigBase {
 public:
  void set_threads(int threads) { threads_ = threads; }
  int threads() const { return threads_; }
  void set_power_mode(PowerMode mode) { mode_ = mode; }
  PowerMode power_mode() const { return mode_; }

 private:
  int threads_ = 1;
  PowerMode mode_ = LITE_POWER_NO_BIND;
};

class MobileConfig : public ConfigBase {
 public:
  void set_model_from_file(const std::string& x) { lite_model_file_ = x; }
  const std::string& lite_model_file() const { return lite_model_file_; }

 private:
  std::string lite_model_file_;
};

template <typename ConfigT>
std::shared_ptr<PaddlePredictor> CreatePaddlePredictor(const ConfigT&);

}  // namespace lite_api
}  // namespace paddle
