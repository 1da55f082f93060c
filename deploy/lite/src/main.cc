// fomm_lite_demo: animate a source image with a folder of driving frames on ARM with Paddle Lite.
// Errors are one line on stderr and a non-zero exit (2 for bad flags, 1 otherwise).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "animate.h"
#include "cli.h"
#include "error.h"
#include "lite_runner.h"

int main(int argc, char** argv) {
  const char* program = "fomm_lite_demo";
  fomm::DemoArgs args;
  try {
    args = fomm::parse_demo_args(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s (see --help)\n", program, e.what());
    return 2;
  }
  if (args.help) {
    std::fputs(fomm::demo_usage(program).c_str(), stdout);
    return 0;
  }
  try {
    std::vector<fomm::LiteModelSpec> models = {{fomm::kKpDetectorModel, args.kp_model}};
    if (args.options.cached_source) {
      models.push_back({fomm::kSourceEncoderModel, args.encoder_model});
      models.push_back({fomm::kFrameDecoderModel, args.decoder_model});
    } else {
      models.push_back({fomm::kGeneratorModel, args.gen_model});
    }
    std::unique_ptr<fomm::ModelRunner> runner = fomm::make_lite_runner(models, args.threads);
    fomm::ProgressFn progress;
    if (!args.quiet) {
      progress = [](const fomm::FrameReport& r) {
        std::printf("frame %zu/%zu: keypoints %.1f ms, generator %.1f ms -> %s\n", r.index + 1, r.total, r.kp_ms,
                    r.generator_ms, r.output_path.c_str());
        std::fflush(stdout);
      };
    }
    const fomm::AnimateResult result =
        fomm::animate(*runner, args.source, args.driving_dir, args.output_dir, args.options, progress);
    const double per_frame = result.frames ? (result.kp_ms + result.generator_ms) / result.frames : 0.0;
    std::printf("wrote %zu frames to %s (movement scale %.4f, %.1f ms per frame", result.frames,
                args.output_dir.c_str(), result.scale, per_frame);
    if (args.options.cached_source) std::printf(", source encoder %.1f ms once", result.encoder_ms);
    std::printf(")\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  }
}
