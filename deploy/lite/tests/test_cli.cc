#include "check.h"
#include "cli.h"
#include "error.h"

namespace {

fomm::DemoArgs parse(std::vector<const char*> args) {
  args.insert(args.begin(), "fomm_lite_demo");
  return fomm::parse_demo_args(static_cast<int>(args.size()), args.data());
}

const std::vector<const char*> kRequired = {"--kp_model", "kp.nb", "--gen_model=gen.nb", "--source", "s.ppm",
                                            "--driving_dir", "frames", "--output_dir=out"};

std::vector<const char*> with(std::vector<const char*> extra) {
  std::vector<const char*> all = kRequired;
  all.insert(all.end(), extra.begin(), extra.end());
  return all;
}

}  // namespace

TEST(cli_parses_all_flags) {
  fomm::DemoArgs a = parse(with({"--relative", "--adapt_scale", "--size", "128", "--threads=4", "--max_frames", "7",
                                 "--overwrite", "--quiet"}));
  CHECK_EQ(a.kp_model, std::string("kp.nb"));
  CHECK_EQ(a.gen_model, std::string("gen.nb"));
  CHECK_EQ(a.source, std::string("s.ppm"));
  CHECK_EQ(a.driving_dir, std::string("frames"));
  CHECK_EQ(a.output_dir, std::string("out"));
  CHECK(a.options.relative);
  CHECK(a.options.adapt_scale);
  CHECK(a.options.overwrite);
  CHECK(a.quiet);
  CHECK_EQ(a.options.size, 128);
  CHECK_EQ(a.threads, 4);
  CHECK_EQ(a.options.max_frames, 7L);
  CHECK(!a.help);
}

TEST(cli_defaults_and_booleans) {
  fomm::DemoArgs a = parse(kRequired);
  CHECK(!a.options.relative);
  CHECK(!a.options.adapt_scale);
  CHECK_EQ(a.options.size, 256);
  CHECK_EQ(a.threads, 1);
  CHECK_EQ(a.options.max_frames, -1L);
  fomm::DemoArgs b = parse(with({"--relative=false", "--adapt_scale=1"}));
  CHECK(!b.options.relative);
  CHECK(b.options.adapt_scale);
  CHECK(parse({"--help"}).help);
}

TEST(cli_errors) {
  CHECK_THROWS(parse({"--source", "s.ppm"}), "missing --kp_model");
  CHECK_THROWS(parse(with({"--bogus"})), "unknown flag --bogus");
  CHECK_THROWS(parse(with({"--size", "abc"})), "--size expects an integer, got 'abc'");
  CHECK_THROWS(parse(with({"--size", "2"})), "--size must be between 8 and 4096");
  CHECK_THROWS(parse(with({"--threads", "0"})), "--threads must be between 1 and 256");
  CHECK_THROWS(parse(with({"--threads"})), "--threads needs a value");
  CHECK_THROWS(parse(with({"--relative=maybe"})), "--relative expects true or false");
  CHECK_THROWS(parse(with({"stray"})), "unexpected argument 'stray'");
}

TEST(cli_cached_variant_flags) {
  fomm::DemoArgs a = parse({"--kp_model", "kp.nb", "--encoder_model", "enc.nb", "--decoder_model=dec.nb", "--source",
                            "s.ppm", "--driving_dir", "f", "--output_dir", "o"});
  CHECK(a.options.cached_source);
  CHECK_EQ(a.encoder_model, std::string("enc.nb"));
  CHECK_EQ(a.decoder_model, std::string("dec.nb"));
  CHECK(!parse(kRequired).options.cached_source);
  CHECK_THROWS(parse(with({"--encoder_model", "enc.nb", "--decoder_model", "dec.nb"})), "not both");
  CHECK_THROWS(parse({"--kp_model", "kp.nb", "--encoder_model", "enc.nb", "--source", "s.ppm", "--driving_dir", "f",
                      "--output_dir", "o"}),
               "--encoder_model needs --decoder_model");
  CHECK_THROWS(parse({"--kp_model", "kp.nb", "--source", "s.ppm", "--driving_dir", "f", "--output_dir", "o"}),
               "missing --gen_model (or --encoder_model with --decoder_model)");
}
