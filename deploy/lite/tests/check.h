// A tiny test harness (no third-party framework): TEST(name) { CHECK(...); } registers a test;
// test_main.cc runs them all and prints "fomm_core_tests: N passed, M failed".
#pragma once

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace fomm_test {

struct TestCase {
  const char* name;
  std::function<void()> body;
};

std::vector<TestCase>& registry();
void report_failure(const char* file, int line, const std::string& message);

struct Registrar {
  Registrar(const char* name, std::function<void()> body) { registry().push_back(TestCase{name, std::move(body)}); }
};

// A fresh empty folder under $TMPDIR (or /tmp), removed when the test run ends.
std::string temp_dir();

}  // namespace fomm_test

#define FOMM_CONCAT2(a, b) a##b
#define FOMM_CONCAT(a, b) FOMM_CONCAT2(a, b)

#define TEST(name)                                                                         \
  static void name();                                                                      \
  static ::fomm_test::Registrar FOMM_CONCAT(registrar_, name)(#name, name);                \
  static void name()

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) ::fomm_test::report_failure(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

#define CHECK_EQ(a, b)                                                                   \
  do {                                                                                   \
    auto fomm_a_ = (a);                                                                  \
    auto fomm_b_ = (b);                                                                  \
    if (!(fomm_a_ == fomm_b_)) {                                                         \
      std::ostringstream fomm_msg_;                                                      \
      fomm_msg_ << "CHECK_EQ(" #a ", " #b "): " << fomm_a_ << " != " << fomm_b_;         \
      ::fomm_test::report_failure(__FILE__, __LINE__, fomm_msg_.str());                  \
    }                                                                                    \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                        \
  do {                                                                                               \
    double fomm_a_ = (a), fomm_b_ = (b);                                                             \
    if (!(std::fabs(fomm_a_ - fomm_b_) <= (tol))) {                                                  \
      std::ostringstream fomm_msg_;                                                                  \
      fomm_msg_.precision(10);                                                                       \
      fomm_msg_ << "CHECK_NEAR(" #a ", " #b "): " << fomm_a_ << " vs " << fomm_b_ << " (tol " << (tol) << ")"; \
      ::fomm_test::report_failure(__FILE__, __LINE__, fomm_msg_.str());                              \
    }                                                                                                \
  } while (0)

// Expects `expr` to throw fomm::Error whose message contains `part`.
#define CHECK_THROWS(expr, part)                                                                       \
  do {                                                                                                 \
    bool fomm_thrown_ = false;                                                                         \
    try {                                                                                              \
      (void)(expr);                                                                                    \
    } catch (const ::fomm::Error& fomm_e_) {                                                           \
      fomm_thrown_ = true;                                                                             \
      if (std::string(fomm_e_.what()).find(part) == std::string::npos) {                               \
        ::fomm_test::report_failure(__FILE__, __LINE__,                                                \
                                    std::string("error '") + fomm_e_.what() + "' lacks '" + (part) + "'"); \
      }                                                                                                \
    }                                                                                                  \
    if (!fomm_thrown_) ::fomm_test::report_failure(__FILE__, __LINE__, "no fomm::Error from " #expr);  \
  } while (0)
