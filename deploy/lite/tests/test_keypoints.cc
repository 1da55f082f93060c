#include <cmath>
#include <limits>

#include "check.h"
#include "error.h"
#include "keypoints.h"

using fomm::Keypoints;

namespace {

Keypoints make_kp(std::vector<float> value, std::vector<float> jacobian = {}) {
  Keypoints kp;
  kp.K = static_cast<int>(value.size() / 2);
  kp.value = std::move(value);
  kp.jacobian = std::move(jacobian);
  return kp;
}

// A deterministic pseudo-random number in [-1, 1].
float noise(int i) {
  double v = std::sin(i * 12.9898 + 78.233) * 43758.5453;
  return static_cast<float>(2.0 * (v - std::floor(v)) - 1.0);
}

std::vector<float> random_values(int K, int seed) {
  std::vector<float> v(2 * K);
  for (int i = 0; i < 2 * K; ++i) v[i] = 0.8f * noise(seed * 1000 + i);
  return v;
}

std::vector<float> random_jacobians(int K, int seed) {
  std::vector<float> j(4 * K);
  for (int k = 0; k < K; ++k) {
    j[4 * k + 0] = 1.0f + 0.3f * noise(seed * 2000 + 4 * k);
    j[4 * k + 1] = 0.3f * noise(seed * 2000 + 4 * k + 1);
    j[4 * k + 2] = 0.3f * noise(seed * 2000 + 4 * k + 2);
    j[4 * k + 3] = 1.0f + 0.3f * noise(seed * 2000 + 4 * k + 3);
  }
  return j;
}

// 2x2 helpers for an independent check of the relative jacobian.
void matmul(const double* a, const double* b, double* out) {
  out[0] = a[0] * b[0] + a[1] * b[2];
  out[1] = a[0] * b[1] + a[1] * b[3];
  out[2] = a[2] * b[0] + a[3] * b[2];
  out[3] = a[2] * b[1] + a[3] * b[3];
}

}  // namespace

TEST(hull_area_basic_shapes) {
  // unit square with an interior point and a point on an edge
  CHECK_NEAR(fomm::hull_area(std::vector<float>{0, 0, 1, 0, 1, 1, 0, 1, 0.5f, 0.5f, 0.5f, 0}), 1.0, 1e-12);
  CHECK_NEAR(fomm::hull_area(std::vector<float>{0, 0, 2, 0, 0, 3}), 3.0, 1e-12);
  // order does not matter
  CHECK_NEAR(fomm::hull_area(std::vector<float>{0, 1, 0.5f, 0.5f, 1, 1, 0, 0, 1, 0}), 1.0, 1e-12);
  // a regular hexagon of radius 1: 3*sqrt(3)/2
  std::vector<float> hex;
  for (int i = 0; i < 6; ++i) {
    hex.push_back(static_cast<float>(std::cos(i * 3.14159265358979323846 / 3)));
    hex.push_back(static_cast<float>(std::sin(i * 3.14159265358979323846 / 3)));
  }
  CHECK_NEAR(fomm::hull_area(hex), 3 * std::sqrt(3.0) / 2, 1e-6);
}

TEST(hull_area_degenerate_is_zero) {
  CHECK_EQ(fomm::hull_area(std::vector<float>{}), 0.0);
  CHECK_EQ(fomm::hull_area(std::vector<float>{0, 0, 1, 1}), 0.0);
  CHECK_EQ(fomm::hull_area(std::vector<float>{0, 0, 0.25f, 0.125f, 0.5f, 0.25f, -1, -0.5f}), 0.0);  // collinear
  CHECK_EQ(fomm::hull_area(std::vector<float>{0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f}), 0.0);          // one point
  CHECK_EQ(fomm::hull_area(std::vector<float>{0, 0, 1, 0, 1, 1, 0, 1, 0.5f, 0.5f, 0.5f, 0}) > 0, true);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK_EQ(fomm::hull_area(std::vector<float>{0, 0, 1, 0, nan, 1}), 0.0);
}

TEST(movement_scale_ratio_and_fallback) {
  Keypoints big = make_kp({-1, -1, 1, -1, 1, 1, -1, 1});          // area 4
  Keypoints small = make_kp({0, 0, 0.5f, 0, 0.5f, 0.5f, 0, 0.5f});  // area 0.25
  CHECK_NEAR(fomm::movement_scale(big, small), 4.0, 1e-12);
  CHECK_NEAR(fomm::movement_scale(small, big), 0.25, 1e-12);
  Keypoints line = make_kp({0, 0, 0.5f, 0.5f, 1, 1, 0.25f, 0.25f});
  CHECK_EQ(fomm::movement_scale(big, line), 1.0);
  CHECK_EQ(fomm::movement_scale(line, big), 1.0);
}

TEST(normalize_relative_movement_values) {
  Keypoints s = make_kp({0.1f, 0.2f, -0.3f, 0.4f, 0.5f, -0.6f});
  Keypoints d0 = make_kp({0.0f, 0.0f, 0.5f, 0.0f, 0.0f, 0.5f});
  Keypoints d = make_kp({0.1f, 0.0f, 0.5f, -0.2f, 0.05f, 0.5f});
  Keypoints out = fomm::normalize_kp(s, d, d0, false, true, false);
  const float expect[6] = {0.2f, 0.2f, -0.3f, 0.2f, 0.55f, -0.6f};
  for (int i = 0; i < 6; ++i) CHECK_NEAR(out.value[i], expect[i], 1e-6);
  CHECK(out.jacobian.empty());
  // with adapt_scale the movement is multiplied by sqrt(area(s) / area(d0))
  const double scale = fomm::movement_scale(s, d0);
  Keypoints scaled = fomm::normalize_kp(s, d, d0, true, true, false);
  for (int i = 0; i < 6; ++i) CHECK_NEAR(scaled.value[i], (d.value[i] - d0.value[i]) * scale + s.value[i], 1e-6);
  CHECK_NEAR(scale, std::sqrt(fomm::hull_area(s) / fomm::hull_area(d0)), 1e-12);
  // scale given once for the video
  Keypoints fixed = fomm::normalize_kp_with_scale(s, d, d0, 2.0, true, false);
  for (int i = 0; i < 6; ++i) CHECK_NEAR(fixed.value[i], (d.value[i] - d0.value[i]) * 2.0 + s.value[i], 1e-6);
}

TEST(normalize_relative_jacobian_matches_matrix_products) {
  const int K = 10;
  for (int seed = 1; seed <= 5; ++seed) {
    Keypoints s = make_kp(random_values(K, seed), random_jacobians(K, seed));
    Keypoints d = make_kp(random_values(K, seed + 10), random_jacobians(K, seed + 10));
    Keypoints d0 = make_kp(random_values(K, seed + 20), random_jacobians(K, seed + 20));
    Keypoints out = fomm::normalize_kp(s, d, d0, true, true, true);
    CHECK_EQ(out.jacobian.size(), size_t(4 * K));
    for (int k = 0; k < K; ++k) {
      double jd[4], j0[4], js[4], inv[4], rel[4], full[4];
      for (int e = 0; e < 4; ++e) {
        jd[e] = d.jacobian[4 * k + e];
        j0[e] = d0.jacobian[4 * k + e];
        js[e] = s.jacobian[4 * k + e];
      }
      const double det = j0[0] * j0[3] - j0[1] * j0[2];
      inv[0] = j0[3] / det;
      inv[1] = -j0[1] / det;
      inv[2] = -j0[2] / det;
      inv[3] = j0[0] / det;
      double eye[4];
      matmul(j0, inv, eye);
      CHECK_NEAR(eye[0], 1.0, 1e-12);
      CHECK_NEAR(eye[1], 0.0, 1e-12);
      matmul(jd, inv, rel);
      matmul(rel, js, full);
      for (int e = 0; e < 4; ++e) CHECK_NEAR(out.jacobian[4 * k + e], full[e], 1e-5);
    }
  }
}

TEST(normalize_identity_when_driving_is_initial) {
  Keypoints s = make_kp(random_values(6, 3), random_jacobians(6, 3));
  Keypoints d = make_kp(random_values(6, 4), random_jacobians(6, 4));
  Keypoints out = fomm::normalize_kp(s, d, d, true, true, true);
  for (size_t i = 0; i < s.value.size(); ++i) CHECK_NEAR(out.value[i], s.value[i], 1e-7);
  for (size_t i = 0; i < s.jacobian.size(); ++i) CHECK_NEAR(out.jacobian[i], s.jacobian[i], 1e-5);
}

TEST(normalize_without_relative_keeps_driving) {
  Keypoints s = make_kp(random_values(4, 5), random_jacobians(4, 5));
  Keypoints d = make_kp(random_values(4, 6), random_jacobians(4, 6));
  Keypoints d0 = make_kp(random_values(4, 7), random_jacobians(4, 7));
  for (int adapt = 0; adapt < 2; ++adapt) {
    Keypoints out = fomm::normalize_kp(s, d, d0, adapt != 0, false, true);
    CHECK(out.value == d.value);
    CHECK(out.jacobian == d.jacobian);
  }
  // relative movement without relative jacobian keeps the driving jacobian
  Keypoints rel = fomm::normalize_kp(s, d, d0, false, true, false);
  CHECK(rel.jacobian == d.jacobian);
}

TEST(normalize_errors) {
  Keypoints s = make_kp(random_values(4, 1), random_jacobians(4, 1));
  Keypoints d = make_kp(random_values(5, 2), random_jacobians(5, 2));
  CHECK_THROWS(fomm::normalize_kp(s, d, d, false, true, true), "keypoint count mismatch");
  Keypoints bad = s;
  bad.value.pop_back();
  CHECK_THROWS(fomm::normalize_kp(s, bad, s, false, false, false), "driving keypoints: keypoint value must hold K*2 = 8");
  Keypoints no_jac = make_kp(random_values(4, 3));
  Keypoints d4 = make_kp(random_values(4, 2), random_jacobians(4, 2));
  CHECK_THROWS(fomm::normalize_kp(no_jac, d4, s, false, true, true), "relative jacobian needs");
  // a driving set without jacobians simply has none in the result
  Keypoints out = fomm::normalize_kp(s, no_jac, s, false, true, true);
  CHECK(out.jacobian.empty());
}
