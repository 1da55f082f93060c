#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <ftw.h>
#include <unistd.h>

#include "check.h"
#include "error.h"

namespace fomm_test {

namespace {

int g_failures_in_test = 0;
std::vector<std::string> g_temp_dirs;

int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }

}  // namespace

std::vector<TestCase>& registry() {
  static std::vector<TestCase> tests;
  return tests;
}

void report_failure(const char* file, int line, const std::string& message) {
  ++g_failures_in_test;
  std::fprintf(stderr, "  FAILED %s:%d: %s\n", file, line, message.c_str());
}

std::string temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/fomm_core_tests.XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) throw fomm::Error("mkdtemp failed for " + pattern);
  g_temp_dirs.push_back(buffer.data());
  return buffer.data();
}

}  // namespace fomm_test

int main(int argc, char** argv) {
  using namespace fomm_test;
  const std::string only = argc > 1 ? argv[1] : "";
  int passed = 0, failed = 0;
  for (const TestCase& test : registry()) {
    if (!only.empty() && std::string(test.name).find(only) == std::string::npos) continue;
    g_failures_in_test = 0;
    try {
      test.body();
    } catch (const std::exception& e) {
      report_failure(test.name, 0, std::string("uncaught exception: ") + e.what());
    }
    if (g_failures_in_test == 0) {
      ++passed;
    } else {
      ++failed;
      std::fprintf(stderr, "FAIL %s\n", test.name);
    }
  }
  for (const std::string& dir : g_temp_dirs) ::nftw(dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  std::printf("fomm_core_tests: %d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
