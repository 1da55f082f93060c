// fomm::Error: the one exception type of the library. Its message is a single line meant for
// the user (what went wrong and with which file); main() prints it and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace fomm {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace fomm
