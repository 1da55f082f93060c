// The animation loop against a fake ModelRunner: the "detector" returns fixed points moved by the
// frame's mean brightness, the "generator" returns its source input and records the keypoints it
// was given, so the normalization inside the loop can be checked against normalize_kp.
#include <cmath>
#include <cstdio>

#include "animate.h"
#include "check.h"
#include "error.h"
#include "fileutil.h"
#include "frames.h"

namespace {

const int kK = 5;

struct FakeRunner : fomm::ModelRunner {
  bool with_jacobian = true;
  bool bad_generator_shape = false;
  bool bad_kp_shape = false;
  int kp_calls = 0;
  int encoder_calls = 0;
  std::vector<std::vector<fomm::Tensor>> generator_inputs;

  // Keypoints of a picture with mean brightness m in [0, 1]: a pentagon scaled by (1 + m) and
  // shifted by m, with jacobians [[1 + m, 0.2 m], [-0.1 m, 1]].
  static fomm::Keypoints keypoints_for(double m, bool jac) {
    fomm::Keypoints kp;
    kp.K = kK;
    for (int k = 0; k < kK; ++k) {
      const double angle = 2 * 3.14159265358979 * k / kK;
      kp.value.push_back(static_cast<float>(0.4 * (1 + m) * std::cos(angle) + 0.3 * m));
      kp.value.push_back(static_cast<float>(0.4 * (1 + m) * std::sin(angle) - 0.2 * m));
      if (jac) {
        kp.jacobian.push_back(static_cast<float>(1 + m));
        kp.jacobian.push_back(static_cast<float>(0.2 * m));
        kp.jacobian.push_back(static_cast<float>(-0.1 * m));
        kp.jacobian.push_back(1.0f);
      }
    }
    return kp;
  }

  static double mean(const fomm::Tensor& t) {
    double sum = 0;
    for (float v : t.data) sum += v;
    return sum / t.data.size();
  }

  std::vector<fomm::Tensor> run(const std::string& model, const std::vector<fomm::Tensor>& inputs) override {
    if (model == "kp_detector") {
      ++kp_calls;
      if (inputs.size() != 1) throw fomm::Error("kp_detector takes 1 input");
      fomm::Keypoints kp = keypoints_for(mean(inputs[0]), with_jacobian);
      std::vector<fomm::Tensor> out;
      out.emplace_back(std::vector<int64_t>{1, kK, bad_kp_shape ? 3 : 2}, kp.value);
      if (bad_kp_shape) out[0].data.resize(kK * 3);
      if (with_jacobian) out.emplace_back(std::vector<int64_t>{1, kK, 2, 2}, kp.jacobian);
      return out;
    }
    if (model == "generator") {
      generator_inputs.push_back(inputs);
      fomm::Tensor pred = inputs[0];
      if (bad_generator_shape) {
        pred.shape[3] -= 1;
        pred.data.resize(pred.numel());
      }
      return {pred};
    }
    if (model == "source_encoder") {
      // features: the source itself; source_small: a 2x smaller zero tensor
      ++encoder_calls;
      const fomm::Tensor& src = inputs.at(0);
      fomm::Tensor small({1, 3, src.shape[2] / 2, src.shape[3] / 2}, {});
      small.data.assign(small.numel(), 0.25f);
      return {src, small};
    }
    if (model == "frame_decoder") {
      generator_inputs.push_back(inputs);
      return {inputs.at(1)};  // the features, i.e. the source
    }
    throw fomm::Error("no model named '" + model + "'");
  }
};

fomm::Image source_picture() {
  fomm::Image img(40, 60);
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 60; ++x)
      for (int c = 0; c < 3; ++c) img.at(y, x, c) = static_cast<uint8_t>((3 * x + 5 * y + 60 * c) % 256);
  return img;
}

// A source file and a folder of `n` uniform driving frames of brightness 0, 50, 100, ...
struct Scene {
  std::string root, source, frames, out;
  explicit Scene(int n, int frame_size = 20) {
    root = fomm_test::temp_dir();
    source = root + "/source.ppm";
    frames = root + "/frames";
    out = root + "/out/sub";
    fomm::write_ppm(source, source_picture());
    fomm::make_dirs(frames);
    for (int i = 0; i < n; ++i) {
      fomm::write_ppm(frames + "/" + fomm::frame_file_name(i), fomm::Image(frame_size, frame_size, static_cast<uint8_t>(50 * i)));
    }
  }
};

std::vector<float> slice(const fomm::Tensor& t) { return t.data; }

}  // namespace

TEST(animate_writes_frames_and_normalizes_against_first_frame) {
  Scene scene(4);
  FakeRunner runner;
  fomm::AnimateOptions options;
  options.size = 32;
  options.relative = true;
  options.adapt_scale = true;
  std::vector<fomm::FrameReport> reports;
  fomm::AnimateResult result = fomm::animate(runner, scene.source, scene.frames, scene.out, options,
                                             [&](const fomm::FrameReport& r) { reports.push_back(r); });
  CHECK_EQ(result.frames, size_t(4));
  CHECK_EQ(reports.size(), size_t(4));
  CHECK_EQ(runner.kp_calls, 5);  // the source once, then each frame
  CHECK_EQ(runner.generator_inputs.size(), size_t(4));
  CHECK_EQ(reports[3].output_path, scene.out + "/frame_000004.ppm");
  CHECK_EQ(reports[3].total, size_t(4));

  // The generator returned its source, so every output is the prepared source picture.
  const fomm::Image expected = fomm::prepare_square(source_picture(), 32);
  const std::vector<float> source_tensor = fomm::to_nchw(expected);
  for (int i = 0; i < 4; ++i) {
    fomm::Image out = fomm::read_ppm(scene.out + "/" + fomm::frame_file_name(i));
    CHECK_EQ(out.height, 32);
    CHECK(out.data == expected.data);
  }
  CHECK_EQ(fomm::list_dir(scene.out).size(), size_t(4));  // no temporary files left

  // The keypoints the generator saw are normalize_kp(source, frame i, frame 0).
  const fomm::Keypoints kp_s = FakeRunner::keypoints_for(FakeRunner::mean(fomm::Tensor({1, 3, 32, 32}, source_tensor)), true);
  const fomm::Keypoints kp_0 = FakeRunner::keypoints_for(0.0, true);
  CHECK_NEAR(result.scale, fomm::movement_scale(kp_s, kp_0), 1e-12);
  CHECK(std::fabs(result.scale - 1.0) > 0.05);  // the test does exercise the scale
  for (int i = 0; i < 4; ++i) {
    const std::vector<fomm::Tensor>& in = runner.generator_inputs[i];
    CHECK_EQ(in.size(), size_t(5));
    CHECK((in[0].shape == std::vector<int64_t>{1, 3, 32, 32}));
    CHECK(in[0].data == source_tensor);
    CHECK((in[1].shape == std::vector<int64_t>{1, kK, 2}));
    CHECK((in[2].shape == std::vector<int64_t>{1, kK, 2, 2}));
    CHECK(slice(in[1]) == kp_s.value);
    CHECK(slice(in[2]) == kp_s.jacobian);
    const fomm::Keypoints kp_d = FakeRunner::keypoints_for(50 * i / 255.0, true);
    const fomm::Keypoints expect = fomm::normalize_kp(kp_s, kp_d, kp_0, true, true, true);
    for (int e = 0; e < 2 * kK; ++e) CHECK_NEAR(in[3].data[e], expect.value[e], 1e-6);
    for (int e = 0; e < 4 * kK; ++e) CHECK_NEAR(in[4].data[e], expect.jacobian[e], 1e-6);
  }
  // frame 0 against itself: the source keypoints
  for (int e = 0; e < 2 * kK; ++e) CHECK_NEAR(runner.generator_inputs[0][3].data[e], kp_s.value[e], 1e-6);
}

TEST(animate_without_relative_passes_driving_keypoints) {
  Scene scene(2);
  FakeRunner runner;
  fomm::AnimateOptions options;
  options.size = 16;
  fomm::AnimateResult result = fomm::animate(runner, scene.source, scene.frames, scene.out, options);
  CHECK_EQ(result.scale, 1.0);
  const fomm::Keypoints kp_d = FakeRunner::keypoints_for(50 / 255.0, true);
  for (int e = 0; e < 2 * kK; ++e) CHECK_NEAR(runner.generator_inputs[1][3].data[e], kp_d.value[e], 1e-6);
  for (int e = 0; e < 4 * kK; ++e) CHECK_NEAR(runner.generator_inputs[1][4].data[e], kp_d.jacobian[e], 1e-6);
}

TEST(animate_without_jacobians_gives_three_generator_inputs) {
  Scene scene(2);
  FakeRunner runner;
  runner.with_jacobian = false;
  fomm::AnimateOptions options;
  options.size = 16;
  options.relative = true;
  fomm::animate(runner, scene.source, scene.frames, scene.out, options);
  CHECK_EQ(runner.generator_inputs[0].size(), size_t(3));
}

TEST(animate_refuses_to_overwrite_unless_asked_and_max_frames) {
  Scene scene(3);
  FakeRunner runner;
  fomm::AnimateOptions options;
  options.size = 16;
  options.max_frames = 2;
  CHECK_EQ(fomm::animate(runner, scene.source, scene.frames, scene.out, options).frames, size_t(2));
  CHECK_EQ(fomm::list_dir(scene.out).size(), size_t(2));
  const int calls = runner.kp_calls;
  CHECK_THROWS(fomm::animate(runner, scene.source, scene.frames, scene.out, options),
               "output frame already exists: " + scene.out + "/frame_000001.ppm (pass --overwrite");
  CHECK_EQ(runner.kp_calls, calls);  // refused before running any model
  options.overwrite = true;
  options.max_frames = -1;
  CHECK_EQ(fomm::animate(runner, scene.source, scene.frames, scene.out, options).frames, size_t(3));
}

TEST(animate_input_errors_run_no_model_and_write_nothing) {
  Scene scene(2);
  FakeRunner runner;
  fomm::AnimateOptions options;
  options.size = 16;
  CHECK_THROWS(fomm::animate(runner, scene.root + "/nope.ppm", scene.frames, scene.out, options),
               "file not found: " + scene.root + "/nope.ppm");
  CHECK_THROWS(fomm::animate(runner, scene.source, scene.root + "/nothing", scene.out, options),
               "driving frames folder not found");
  std::FILE* f = std::fopen((scene.root + "/bad.ppm").c_str(), "wb");
  std::fputs("P6\n4 4\n255\nxx", f);
  std::fclose(f);
  CHECK_THROWS(fomm::animate(runner, scene.root + "/bad.ppm", scene.frames, scene.out, options),
               scene.root + "/bad.ppm: truncated PPM data");
  options.size = 3;
  CHECK_THROWS(fomm::animate(runner, scene.source, scene.frames, scene.out, options), "size must be between 8 and 4096");
  CHECK_EQ(runner.kp_calls, 0);
  CHECK(!fomm::is_dir(scene.out));
}

TEST(animate_bad_frame_midway_keeps_whole_frames_only) {
  Scene scene(3);
  std::FILE* f = std::fopen((scene.frames + "/" + fomm::frame_file_name(1)).c_str(), "wb");
  std::fputs("P6\n20 20\n255\n", f);  // header only
  std::fclose(f);
  FakeRunner runner;
  fomm::AnimateOptions options;
  options.size = 16;
  CHECK_THROWS(fomm::animate(runner, scene.source, scene.frames, scene.out, options),
               scene.frames + "/frame_000002.ppm: truncated PPM data");
  std::vector<std::string> written = fomm::list_dir(scene.out);
  CHECK_EQ(written.size(), size_t(1));
  CHECK_EQ(written[0], std::string("frame_000001.ppm"));
  CHECK_EQ(fomm::read_ppm(scene.out + "/frame_000001.ppm").height, 16);
}

TEST(animate_model_output_errors) {
  {
    Scene scene(1);
    FakeRunner runner;
    runner.bad_generator_shape = true;
    fomm::AnimateOptions options;
    options.size = 16;
    CHECK_THROWS(fomm::animate(runner, scene.source, scene.frames, scene.out, options),
                 "model 'generator' output 0 (prediction) has shape [1, 3, 16, 15], expected [1, 3, 16, 16]");
    CHECK_EQ(fomm::list_dir(scene.out).size(), size_t(0));
  }
  {
    Scene scene(1);
    FakeRunner runner;
    runner.bad_kp_shape = true;
    fomm::AnimateOptions options;
    options.size = 16;
    CHECK_THROWS(fomm::animate(runner, scene.source, scene.frames, scene.out, options),
                 "model 'kp_detector' output 0 (value) has shape [1, 5, 3], expected [1, K, 2]");
  }
  {
    Scene scene(1);
    FakeRunner runner;
    fomm::AnimateOptions options;
    options.size = 16;
    options.generator_model = "generator_cached";
    CHECK_THROWS(fomm::animate(runner, scene.source, scene.frames, scene.out, options), "no model named 'generator_cached'");
  }
}

TEST(animate_cached_source_encodes_once_and_matches_generator) {
  Scene scene(3);
  FakeRunner plain, cached;
  fomm::AnimateOptions options;
  options.size = 32;
  options.relative = true;
  options.adapt_scale = true;
  fomm::animate(plain, scene.source, scene.frames, scene.root + "/plain", options);
  options.cached_source = true;
  fomm::AnimateResult result = fomm::animate(cached, scene.source, scene.frames, scene.root + "/cached", options);
  CHECK_EQ(result.frames, size_t(3));
  CHECK_EQ(cached.encoder_calls, 1);
  CHECK_EQ(cached.generator_inputs.size(), size_t(3));
  for (int i = 0; i < 3; ++i) {
    const std::vector<fomm::Tensor>& in = cached.generator_inputs[i];
    CHECK_EQ(in.size(), size_t(6));
    CHECK((in[0].shape == std::vector<int64_t>{1, 3, 16, 16}));  // source_small first
    CHECK((in[1].shape == std::vector<int64_t>{1, 3, 32, 32}));  // then features
    for (int k = 2; k < 6; ++k) CHECK(in[k].data == plain.generator_inputs[i][k - 1].data);
    const std::string name = "/" + fomm::frame_file_name(i);
    CHECK(fomm::read_ppm(scene.root + "/cached" + name).data == fomm::read_ppm(scene.root + "/plain" + name).data);
  }
}
