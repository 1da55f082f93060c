#include <algorithm>
#include <cstdio>

#include "check.h"
#include "error.h"
#include "fileutil.h"
#include "frames.h"

namespace {

void write_gray(const std::string& path, int h, int w, uint8_t value) { fomm::write_ppm(path, fomm::Image(h, w, value)); }

}  // namespace

TEST(natural_order) {
  std::vector<std::string> names = {"frame_10.ppm", "frame_2.ppm", "frame_1.ppm", "frame_002.ppm",
                                    "frame_000100.ppm", "a.ppm", "frame_9.ppm", "frame_1a.ppm"};
  std::sort(names.begin(), names.end(), fomm::natural_less);
  const std::vector<std::string> expect = {"a.ppm", "frame_1.ppm", "frame_1a.ppm", "frame_2.ppm",
                                           "frame_002.ppm", "frame_9.ppm", "frame_10.ppm", "frame_000100.ppm"};
  CHECK(names == expect);
  CHECK(!fomm::natural_less("x", "x"));
  CHECK(fomm::natural_less("x", "x1"));
  CHECK(fomm::natural_less("frame_000009.ppm", "frame_000010.ppm"));
  CHECK_EQ(fomm::frame_file_name(0), std::string("frame_000001.ppm"));
  CHECK_EQ(fomm::frame_file_name(1234566), std::string("frame_1234567.ppm"));
}

TEST(frame_sequence_lists_sorted_ppm_files_only) {
  const std::string dir = fomm_test::temp_dir();
  write_gray(dir + "/frame_10.ppm", 2, 2, 10);
  write_gray(dir + "/frame_2.ppm", 2, 2, 2);
  write_gray(dir + "/frame_1.PPM", 2, 2, 1);
  write_gray(dir + "/.frame_3.ppm.tmp-1", 2, 2, 3);  // hidden: a temporary file
  write_gray(dir + "/.hidden.ppm", 2, 2, 4);
  std::FILE* f = std::fopen((dir + "/notes.txt").c_str(), "w");
  std::fputs("not a frame", f);
  std::fclose(f);
  fomm::make_dirs(dir + "/sub.ppm");  // a folder, not a frame

  fomm::FrameSequence seq(dir);
  CHECK_EQ(seq.size(), size_t(3));
  CHECK_EQ(fomm::base_name(seq.path(0)), std::string("frame_1.PPM"));
  CHECK_EQ(fomm::base_name(seq.path(2)), std::string("frame_10.ppm"));
  fomm::Image img;
  std::string path;
  std::vector<int> seen;
  while (seq.next(img, &path)) seen.push_back(img.at(0, 0, 0));
  CHECK((seen == std::vector<int>{1, 2, 10}));
  CHECK(!seq.next(img));
}

TEST(frame_sequence_reads_lazily) {
  const std::string dir = fomm_test::temp_dir();
  for (int i = 1; i <= 3; ++i) write_gray(dir + "/frame_00000" + std::to_string(i) + ".ppm", 3, 3, static_cast<uint8_t>(i));
  fomm::FrameSequence seq(dir);
  fomm::Image img;
  CHECK(seq.next(img));
  CHECK_EQ(int(img.at(0, 0, 0)), 1);
  // The pixels of later frames are read only when asked for.
  std::remove((dir + "/frame_000002.ppm").c_str());
  CHECK_THROWS(seq.next(img), "file not found: " + dir + "/frame_000002.ppm");
  CHECK(seq.next(img));
  CHECK_EQ(int(img.at(0, 0, 0)), 3);
}

TEST(frame_sequence_errors) {
  const std::string dir = fomm_test::temp_dir();
  CHECK_THROWS(fomm::FrameSequence(dir + "/missing"), "driving frames folder not found: " + dir + "/missing");
  CHECK_THROWS(fomm::FrameSequence(dir), "no .ppm frames in " + dir);
  write_gray(dir + "/one.ppm", 1, 1, 0);
  CHECK_THROWS(fomm::FrameSequence(dir + "/one.ppm"), "expected a folder of PPM frames, got a file");
}

TEST(make_dirs_and_join) {
  const std::string dir = fomm_test::temp_dir();
  fomm::make_dirs(dir + "/a/b/c");
  CHECK(fomm::is_dir(dir + "/a/b/c"));
  fomm::make_dirs(dir + "/a/b/c/");  // exists: fine
  write_gray(dir + "/a/file", 1, 1, 0);
  CHECK_THROWS(fomm::make_dirs(dir + "/a/file/x"), "cannot create folder " + dir + "/a/file");
  CHECK_EQ(fomm::join_path("x/", "y"), std::string("x/y"));
  CHECK_EQ(fomm::join_path("x", "y"), std::string("x/y"));
  CHECK_EQ(fomm::join_path("", "y"), std::string("y"));
}
