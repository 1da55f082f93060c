#include "animate.h"

#include <algorithm>
#include <chrono>

#include "error.h"
#include "fileutil.h"
#include "frames.h"

namespace fomm {

namespace {

double elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

Tensor values_tensor(const Keypoints& kp) { return Tensor({1, kp.K, 2}, kp.value); }
Tensor jacobian_tensor(const Keypoints& kp) { return Tensor({1, kp.K, 2, 2}, kp.jacobian); }

void check_numel(const Tensor& t, const std::string& what) {
  if (static_cast<int64_t>(t.data.size()) != t.numel()) {
    throw Error(what + ": shape " + t.shape_string() + " does not match its " + std::to_string(t.data.size()) +
                " values");
  }
}

}  // namespace

Tensor image_tensor(const Image& image) { return Tensor({1, 3, image.height, image.width}, to_nchw(image)); }

Keypoints detect_keypoints(ModelRunner& runner, const std::string& model, const Tensor& image) {
  std::vector<Tensor> out = runner.run(model, {image});
  if (out.empty()) throw Error("model '" + model + "' returned no outputs");
  const Tensor& value = out[0];
  check_numel(value, "model '" + model + "' output 0 (value)");
  if (value.shape.size() != 3 || value.shape[0] != 1 || value.shape[2] != 2 || value.shape[1] < 1) {
    throw Error("model '" + model + "' output 0 (value) has shape " + value.shape_string() + ", expected [1, K, 2]");
  }
  Keypoints kp;
  kp.K = static_cast<int>(value.shape[1]);
  kp.value = value.data;
  if (out.size() >= 2) {
    const Tensor& jac = out[1];
    check_numel(jac, "model '" + model + "' output 1 (jacobian)");
    if (jac.shape != std::vector<int64_t>{1, kp.K, 2, 2}) {
      throw Error("model '" + model + "' output 1 (jacobian) has shape " + jac.shape_string() + ", expected [1, " +
                  std::to_string(kp.K) + ", 2, 2]");
    }
    kp.jacobian = jac.data;
  }
  return kp;
}

Image generate(ModelRunner& runner, const std::string& model, const std::vector<Tensor>& leading,
               const Keypoints& kp_source, const Keypoints& kp_driving, int height, int width) {
  if (kp_source.has_jacobian() != kp_driving.has_jacobian()) {
    throw Error("generator: source and driving keypoints must both have jacobians or both lack them");
  }
  std::vector<Tensor> inputs = leading;
  inputs.push_back(values_tensor(kp_source));
  if (kp_source.has_jacobian()) inputs.push_back(jacobian_tensor(kp_source));
  inputs.push_back(values_tensor(kp_driving));
  if (kp_driving.has_jacobian()) inputs.push_back(jacobian_tensor(kp_driving));
  std::vector<Tensor> out = runner.run(model, inputs);
  if (out.empty()) throw Error("model '" + model + "' returned no outputs");
  const Tensor& pred = out[0];
  check_numel(pred, "model '" + model + "' output 0 (prediction)");
  const Tensor expected({1, 3, height, width}, {});
  if (pred.shape != expected.shape) {
    throw Error("model '" + model + "' output 0 (prediction) has shape " + pred.shape_string() + ", expected " +
                expected.shape_string());
  }
  return from_nchw(pred.data.data(), height, width);
}

Image generate(ModelRunner& runner, const std::string& model, const Tensor& source, const Keypoints& kp_source,
               const Keypoints& kp_driving) {
  if (source.shape.size() != 4) throw Error("generator: the source must be a (1, 3, H, W) tensor");
  return generate(runner, model, std::vector<Tensor>{source}, kp_source, kp_driving, static_cast<int>(source.shape[2]),
                  static_cast<int>(source.shape[3]));
}

std::vector<Tensor> encode_source(ModelRunner& runner, const std::string& model, const Tensor& source) {
  std::vector<Tensor> out = runner.run(model, {source});
  if (out.size() != 2) {
    throw Error("model '" + model + "' returned " + std::to_string(out.size()) +
                " outputs, expected 2 (features, source_small)");
  }
  check_numel(out[0], "model '" + model + "' output 0 (features)");
  check_numel(out[1], "model '" + model + "' output 1 (source_small)");
  if (out[0].shape.size() != 4 || out[1].shape.size() != 4 || out[0].shape[0] != 1 || out[1].shape[0] != 1) {
    throw Error("model '" + model + "' outputs have shapes " + out[0].shape_string() + " and " +
                out[1].shape_string() + ", expected two (1, C, H, W) tensors");
  }
  return {out[1], out[0]};
}

AnimateResult animate(ModelRunner& runner, const std::string& source_path, const std::string& driving_dir,
                      const std::string& output_dir, const AnimateOptions& options, const ProgressFn& progress) {
  if (options.size < 8 || options.size > 4096) {
    throw Error("size must be between 8 and 4096, got " + std::to_string(options.size));
  }
  // Everything that can be checked without a model, first.
  const Image source = prepare_square(read_ppm(source_path), options.size);
  FrameSequence driving(driving_dir);
  size_t total = driving.size();
  if (options.max_frames >= 0) total = std::min(total, static_cast<size_t>(options.max_frames));
  make_dirs(output_dir);
  if (!options.overwrite) {
    for (size_t i = 0; i < total; ++i) {
      const std::string out_path = join_path(output_dir, frame_file_name(i));
      if (is_file(out_path) || is_dir(out_path)) {
        throw Error("output frame already exists: " + out_path + " (pass --overwrite to replace)");
      }
    }
  }

  const Tensor source_tensor = image_tensor(source);
  const Keypoints kp_source = detect_keypoints(runner, options.kp_model, source_tensor);
  AnimateResult result;
  const bool relative_jacobian = options.relative;  // as the original demo: relative jacobian follows --relative
  std::vector<Tensor> decoder_leading;
  if (options.cached_source) {
    auto start = std::chrono::steady_clock::now();
    decoder_leading = encode_source(runner, options.encoder_model, source_tensor);
    result.encoder_ms = elapsed_ms(start);
  }

  Keypoints kp_initial;
  Image frame;
  std::string frame_path;
  for (size_t i = 0; i < total && driving.next(frame, &frame_path); ++i) {
    FrameReport report;
    report.index = i;
    report.total = total;
    report.driving_path = frame_path;
    const Image prepared = prepare_square(frame, options.size);

    auto start = std::chrono::steady_clock::now();
    const Keypoints kp_driving = detect_keypoints(runner, options.kp_model, image_tensor(prepared));
    report.kp_ms = elapsed_ms(start);
    if (kp_driving.K != kp_source.K) {
      throw Error(frame_path + ": the detector found " + std::to_string(kp_driving.K) + " keypoints, the source " +
                  std::to_string(kp_source.K));
    }
    if (i == 0) {
      kp_initial = kp_driving;
      result.scale = options.adapt_scale ? movement_scale(kp_source, kp_initial) : 1.0;
    }
    const Keypoints kp_norm =
        normalize_kp_with_scale(kp_source, kp_driving, kp_initial, result.scale, options.relative, relative_jacobian);

    start = std::chrono::steady_clock::now();
    const Image out = options.cached_source
                          ? generate(runner, options.decoder_model, decoder_leading, kp_source, kp_norm, options.size,
                                     options.size)
                          : generate(runner, options.generator_model, source_tensor, kp_source, kp_norm);
    report.generator_ms = elapsed_ms(start);

    report.output_path = join_path(output_dir, frame_file_name(i));
    write_ppm(report.output_path, out);
    result.frames += 1;
    result.kp_ms += report.kp_ms;
    result.generator_ms += report.generator_ms;
    if (progress) progress(report);
  }
  return result;
}

}  // namespace fomm
