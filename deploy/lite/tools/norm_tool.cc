// fomm_norm_tool: runs fomm::normalize_kp on keypoints given as text, for checking the C++
// arithmetic against Python's ppfom.kp_norm.
//
// Input (a file argument, or stdin): whitespace-separated "key numbers..." items, '#' comments,
// any number of cases, each closed by "end":
//   K 10
//   adapt_scale 1  relative_movement 1  relative_jacobian 1
//   source_value   <K*2 numbers>   source_jacobian  <K*4 numbers, optional>
//   driving_value  <K*2 numbers>   driving_jacobian <K*4 numbers, optional>
//   initial_value  <K*2 numbers>   initial_jacobian <K*4 numbers, optional>
//   end
// Output, per case:
//   case <n>
//   source_area <a>  (one item per line)
//   initial_area <a>
//   scale <s>
//   value <K*2 numbers>
//   jacobian <K*4 numbers>   (only when the result has a jacobian)
//   end
// Errors: one line on stderr, exit 1.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "error.h"
#include "keypoints.h"

namespace {

struct Case {
  int K = -1;
  bool adapt_scale = false, relative_movement = false, relative_jacobian = false;
  fomm::Keypoints source, driving, initial;
};

std::vector<float> read_numbers(std::istream& in, size_t count, const std::string& key) {
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) {
    std::string token;
    if (!(in >> token)) throw fomm::Error(key + ": expected " + std::to_string(count) + " numbers, input ended");
    char* end = nullptr;
    values[i] = std::strtof(token.c_str(), &end);
    if (end == token.c_str() || *end != '\0') throw fomm::Error(key + ": bad number '" + token + "'");
  }
  return values;
}

bool read_flag(std::istream& in, const std::string& key) {
  std::string token;
  if (!(in >> token) || (token != "0" && token != "1")) throw fomm::Error(key + ": expected 0 or 1");
  return token == "1";
}

void print_numbers(const char* key, const std::vector<float>& values) {
  std::printf("%s", key);
  for (float v : values) std::printf(" %.9g", v);
  std::printf("\n");
}

void run_case(const Case& c, int index) {
  const double source_area = fomm::hull_area(c.source);
  const double initial_area = fomm::hull_area(c.initial);
  const double scale = c.adapt_scale ? fomm::movement_scale(c.source, c.initial) : 1.0;
  const fomm::Keypoints out =
      fomm::normalize_kp(c.source, c.driving, c.initial, c.adapt_scale, c.relative_movement, c.relative_jacobian);
  std::printf("case %d\nsource_area %.17g\ninitial_area %.17g\nscale %.17g\n", index, source_area, initial_area, scale);
  print_numbers("value", out.value);
  if (out.has_jacobian()) print_numbers("jacobian", out.jacobian);
  std::printf("end\n");
}

// Strips '#' comments line by line.
std::string without_comments(std::istream& in) {
  std::string text, line;
  while (std::getline(in, line)) {
    size_t hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    text += line + "\n";
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string text;
    if (argc > 2) throw fomm::Error("usage: fomm_norm_tool [cases.txt]   (reads stdin without a file)");
    if (argc == 2) {
      std::string arg = argv[1];
      if (arg == "-h" || arg == "--help") {
        std::printf("usage: fomm_norm_tool [cases.txt]\nSee the comment at the top of tools/norm_tool.cc for the format.\n");
        return 0;
      }
      std::ifstream file(arg);
      if (!file) throw fomm::Error("cannot read " + arg);
      text = without_comments(file);
    } else {
      text = without_comments(std::cin);
    }
    std::istringstream in(text);
    Case c;
    int index = 0;
    std::string key;
    while (in >> key) {
      if (key == "K") {
        c.K = static_cast<int>(read_numbers(in, 1, key)[0]);
        if (c.K < 0 || c.K > 100000) throw fomm::Error("K out of range");
        c.source.K = c.driving.K = c.initial.K = c.K;
      } else if (key == "adapt_scale") {
        c.adapt_scale = read_flag(in, key);
      } else if (key == "relative_movement") {
        c.relative_movement = read_flag(in, key);
      } else if (key == "relative_jacobian") {
        c.relative_jacobian = read_flag(in, key);
      } else if (key == "end") {
        if (c.K < 0) throw fomm::Error("case " + std::to_string(index) + ": no K");
        run_case(c, index++);
        c = Case();
      } else {
        if (c.K < 0) throw fomm::Error(key + " before K");
        const bool jac = key.size() > 9 && key.compare(key.size() - 9, 9, "_jacobian") == 0;
        const bool val = key.size() > 6 && key.compare(key.size() - 6, 6, "_value") == 0;
        if (!jac && !val) throw fomm::Error("unknown key '" + key + "'");
        const std::string who = key.substr(0, key.find('_'));
        fomm::Keypoints* kp = who == "source" ? &c.source : who == "driving" ? &c.driving : who == "initial" ? &c.initial : nullptr;
        if (kp == nullptr || (key != who + "_value" && key != who + "_jacobian")) throw fomm::Error("unknown key '" + key + "'");
        (jac ? kp->jacobian : kp->value) = read_numbers(in, static_cast<size_t>(c.K) * (jac ? 4 : 2), key);
      }
    }
    if (c.K >= 0) throw fomm::Error("the last case has no 'end'");
    return 0;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "fomm_norm_tool: error: %s\n", e.what());
    return 1;
  }
}
