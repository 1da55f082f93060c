// The only file that calls Paddle Lite. Written against the light API of paddle_api.h
// (Paddle Lite v2.13-rc: MobileConfig, CreatePaddlePredictor<MobileConfig>, PaddlePredictor,
// Tensor); it is compiled only when fomm_lite_demo is built with -DPADDLE_LITE_DIR=...
#include "lite_runner.h"

#include <algorithm>
#include <map>

#include "error.h"
#include "fileutil.h"
#include "paddle_api.h"

namespace fomm {

namespace {

namespace lite = paddle::lite_api;

class LiteRunner : public ModelRunner {
 public:
  LiteRunner(const std::vector<LiteModelSpec>& models, int threads) {
    for (const LiteModelSpec& spec : models) {
      if (!is_file(spec.path)) throw Error("model file not found: " + spec.path);
      lite::MobileConfig config;
      config.set_model_from_file(spec.path);
      config.set_threads(threads);
      config.set_power_mode(lite::LITE_POWER_NO_BIND);
      std::shared_ptr<lite::PaddlePredictor> predictor = lite::CreatePaddlePredictor<lite::MobileConfig>(config);
      if (!predictor) throw Error("Paddle Lite could not load " + spec.path);
      predictors_[spec.name] = predictor;
    }
  }

  std::vector<Tensor> run(const std::string& model, const std::vector<Tensor>& inputs) override {
    auto found = predictors_.find(model);
    if (found == predictors_.end()) throw Error("no model named '" + model + "' was loaded");
    lite::PaddlePredictor& predictor = *found->second;

    const size_t expected = predictor.GetInputNames().size();
    if (inputs.size() != expected) {
      throw Error("model '" + model + "' takes " + std::to_string(expected) + " inputs, got " +
                  std::to_string(inputs.size()));
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (static_cast<int64_t>(inputs[i].data.size()) != inputs[i].numel()) {
        throw Error("model '" + model + "' input " + std::to_string(i) + ": data does not match shape " +
                    inputs[i].shape_string());
      }
      std::unique_ptr<lite::Tensor> tensor = predictor.GetInput(static_cast<int>(i));
      tensor->Resize(lite::shape_t(inputs[i].shape.begin(), inputs[i].shape.end()));
      float* dst = tensor->mutable_data<float>();
      std::copy(inputs[i].data.begin(), inputs[i].data.end(), dst);
    }

    predictor.Run();

    // Copy every output now: Lite reuses its output buffers on the next Run().
    const size_t count = predictor.GetOutputNames().size();
    std::vector<Tensor> outputs(count);
    for (size_t i = 0; i < count; ++i) {
      std::unique_ptr<const lite::Tensor> tensor = predictor.GetOutput(static_cast<int>(i));
      const lite::shape_t shape = tensor->shape();
      outputs[i].shape.assign(shape.begin(), shape.end());
      const float* src = tensor->data<float>();
      outputs[i].data.assign(src, src + outputs[i].numel());
    }
    return outputs;
  }

 private:
  std::map<std::string, std::shared_ptr<lite::PaddlePredictor>> predictors_;
};

}  // namespace

std::unique_ptr<ModelRunner> make_lite_runner(const std::vector<LiteModelSpec>& models, int threads) {
  return std::unique_ptr<ModelRunner>(new LiteRunner(models, threads));
}

}  // namespace fomm
