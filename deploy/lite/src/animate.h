// The whole animation loop, written against ModelRunner: source keypoints once, then for every
// driving frame its keypoints, normalization against the first driving frame, the generator,
// and one output PPM frame.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "image.h"
#include "keypoints.h"
#include "runner.h"

namespace fomm {

struct AnimateOptions {
  int size = 256;               // model input size; pictures are center-cropped and resized to it
  bool relative = false;        // relative movement and relative jacobian (the original's --relative)
  bool adapt_scale = false;     // adapt the movement scale to the convex hulls (--adapt_scale)
  bool overwrite = false;       // replace output frames that already exist
  long max_frames = -1;         // stop after this many driving frames (< 0: all)
  // false: the generator runs on the source every frame. true: the source encoder runs once and
  // the frame decoder takes its cached outputs every frame (same pictures, less work per frame).
  bool cached_source = false;
  std::string kp_model = kKpDetectorModel;
  std::string generator_model = kGeneratorModel;
  std::string encoder_model = kSourceEncoderModel;
  std::string decoder_model = kFrameDecoderModel;
};

struct FrameReport {
  size_t index = 0;  // 0-based
  size_t total = 0;
  std::string driving_path;
  std::string output_path;
  double kp_ms = 0.0;
  double generator_ms = 0.0;
};

struct AnimateResult {
  size_t frames = 0;
  double scale = 1.0;  // the movement scale used for the whole video
  double kp_ms = 0.0;  // summed over the frames (the source's keypoints not included)
  double generator_ms = 0.0;  // generator or frame decoder, summed over the frames
  double encoder_ms = 0.0;    // the source encoder (cached_source only)
};

using ProgressFn = std::function<void(const FrameReport&)>;

// (1, 3, H, W) tensor of an image, values in [0, 1].
Tensor image_tensor(const Image& image);

// Runs the keypoint detector on a (1, 3, H, W) tensor. Expects outputs value (1, K, 2) and,
// optionally, jacobian (1, K, 2, 2); throws Error otherwise.
Keypoints detect_keypoints(ModelRunner& runner, const std::string& model, const Tensor& image);

// Runs the generator: inputs source, kp_source value, kp_source jacobian, kp_driving value,
// kp_driving jacobian (without jacobians: source, kp_source value, kp_driving value). Expects the
// first output to be the prediction (1, 3, H, W) of the source's size; throws Error otherwise.
Image generate(ModelRunner& runner, const std::string& model, const Tensor& source, const Keypoints& kp_source,
               const Keypoints& kp_driving);

// The same for any generator-like model whose inputs are `leading` followed by the keypoints as
// above (the frame decoder: leading = {source_small, features}); the prediction must be
// (1, 3, height, width).
Image generate(ModelRunner& runner, const std::string& model, const std::vector<Tensor>& leading,
               const Keypoints& kp_source, const Keypoints& kp_driving, int height, int width);

// Runs the source encoder on a (1, 3, H, W) tensor and returns the frame decoder's leading inputs
// {source_small, features} (the encoder's outputs are features, source_small).
std::vector<Tensor> encode_source(ModelRunner& runner, const std::string& model, const Tensor& source);

// Animates `source_path` (PPM) with the PPM frames of `driving_dir` and writes
// output_dir/frame_000001.ppm, ... (one per driving frame, in order, size x size). Checks
// everything it can before running a model: the source and the folder are readable, the output
// folder can be made and, unless options.overwrite, holds none of the frames it would write.
AnimateResult animate(ModelRunner& runner, const std::string& source_path, const std::string& driving_dir,
                      const std::string& output_dir, const AnimateOptions& options,
                      const ProgressFn& progress = ProgressFn());

}  // namespace fomm
