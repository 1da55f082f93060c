#include "cli.h"

#include <cerrno>
#include <cstdlib>

#include "error.h"

namespace fomm {

namespace {

long parse_long(const std::string& flag, const std::string& text, long low, long high) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || end == nullptr || *end != '\0' || errno != 0) {
    throw Error(flag + " expects an integer, got '" + text + "'");
  }
  if (v < low || v > high) {
    throw Error(flag + " must be between " + std::to_string(low) + " and " + std::to_string(high) + ", got " + text);
  }
  return v;
}

bool parse_bool(const std::string& flag, const std::string& text) {
  if (text == "1" || text == "true" || text == "on" || text == "yes") return true;
  if (text == "0" || text == "false" || text == "off" || text == "no") return false;
  throw Error(flag + " expects true or false, got '" + text + "'");
}

}  // namespace

DemoArgs parse_demo_args(int argc, const char* const* argv) {
  DemoArgs args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      args.help = true;
      continue;
    }
    if (arg.compare(0, 2, "--") != 0) throw Error("unexpected argument '" + arg + "'");
    std::string flag = arg, value;
    bool has_value = false;
    size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      flag = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    auto take_value = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) throw Error(flag + " needs a value");
      return argv[++i];
    };
    auto boolean = [&]() { return has_value ? parse_bool(flag, value) : true; };

    if (flag == "--kp_model") args.kp_model = take_value();
    else if (flag == "--gen_model") args.gen_model = take_value();
    else if (flag == "--encoder_model") args.encoder_model = take_value();
    else if (flag == "--decoder_model") args.decoder_model = take_value();
    else if (flag == "--source") args.source = take_value();
    else if (flag == "--driving_dir") args.driving_dir = take_value();
    else if (flag == "--output_dir") args.output_dir = take_value();
    else if (flag == "--size") args.options.size = static_cast<int>(parse_long(flag, take_value(), 8, 4096));
    else if (flag == "--threads") args.threads = static_cast<int>(parse_long(flag, take_value(), 1, 256));
    else if (flag == "--max_frames") args.options.max_frames = parse_long(flag, take_value(), 0, 100000000);
    else if (flag == "--relative") args.options.relative = boolean();
    else if (flag == "--adapt_scale") args.options.adapt_scale = boolean();
    else if (flag == "--overwrite") args.options.overwrite = boolean();
    else if (flag == "--quiet") args.quiet = boolean();
    else throw Error("unknown flag " + flag);
  }
  if (args.help) return args;
  const std::pair<const char*, const std::string*> required[] = {
      {"--kp_model", &args.kp_model}, {"--source", &args.source}, {"--driving_dir", &args.driving_dir},
      {"--output_dir", &args.output_dir},
  };
  for (const auto& r : required) {
    if (r.second->empty()) throw Error(std::string("missing ") + r.first);
  }
  const bool cached = !args.encoder_model.empty() || !args.decoder_model.empty();
  if (cached && !args.gen_model.empty()) {
    throw Error("give --gen_model, or --encoder_model with --decoder_model, not both");
  }
  if (cached && (args.encoder_model.empty() || args.decoder_model.empty())) {
    throw Error(args.encoder_model.empty() ? "--decoder_model needs --encoder_model" : "--encoder_model needs --decoder_model");
  }
  if (!cached && args.gen_model.empty()) throw Error("missing --gen_model (or --encoder_model with --decoder_model)");
  args.options.cached_source = cached;
  return args;
}

std::string demo_usage(const std::string& program) {
  return "usage: " + program +
         " --kp_model kp_detector.nb --gen_model generator.nb --source source.ppm\n"
         "       --driving_dir frames/ --output_dir out/ [--relative] [--adapt_scale]\n"
         "       (or, instead of --gen_model: --encoder_model source_encoder.nb --decoder_model frame_decoder.nb)\n"
         "       [--size 256] [--threads 1] [--max_frames N] [--overwrite] [--quiet]\n"
         "Animates the source image (binary PPM) with the driving frames (a folder of numbered PPM\n"
         "files, read in natural order) and writes out/frame_000001.ppm, ... (size x size).\n"
         "  --encoder_model/--decoder_model  the cached variant: encode the source once, decode each frame\n"
         "  --relative     relative movement and jacobian against the first driving frame\n"
         "  --adapt_scale  scale the movement by the ratio of the keypoints' convex hulls\n"
         "  --size         model input size; pictures are center-cropped and resized to it\n"
         "  --threads      Paddle Lite CPU threads\n"
         "  --max_frames   stop after N driving frames\n"
         "  --overwrite    replace output frames that already exist\n";
}

}  // namespace fomm
