// Small POSIX file helpers (no <filesystem>: the Android NDK and older toolchains lack it).
#pragma once

#include <string>
#include <vector>

namespace fomm {

bool is_file(const std::string& path);
bool is_dir(const std::string& path);

// "a" + "b" -> "a/b" (no doubled slash).
std::string join_path(const std::string& dir, const std::string& name);
std::string base_name(const std::string& path);

// mkdir -p. Throws Error when a component exists and is not a folder or cannot be created.
void make_dirs(const std::string& path);

// Names of the entries of a folder (no "." or ".."), unsorted. Throws Error if unreadable.
std::vector<std::string> list_dir(const std::string& path);

// Whole file as bytes. Throws Error naming the file if it is missing or unreadable.
std::string read_file(const std::string& path);

// Writes to a hidden temporary file next to `path` and renames it over `path`, so that a reader
// never sees half a file; on any failure the temporary file is removed and Error is thrown.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace fomm
