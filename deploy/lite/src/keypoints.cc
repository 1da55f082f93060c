#include "keypoints.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "error.h"

namespace fomm {

namespace {

struct Point {
  double x, y;
};

// z of (a - o) x (b - o): > 0 when o -> a -> b turns counter-clockwise.
double cross(const Point& o, const Point& a, const Point& b) {
  return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

void check_same_k(const Keypoints& a, const Keypoints& b, const char* what) {
  if (a.K != b.K) {
    throw Error(std::string("keypoint count mismatch: ") + what + " has " + std::to_string(b.K) + ", source has " +
                std::to_string(a.K));
  }
}

}  // namespace

void Keypoints::check(const char* what) const {
  if (K < 0 || value.size() != static_cast<size_t>(K) * 2) {
    throw Error(std::string(what) + ": keypoint value must hold K*2 = " + std::to_string(K * 2) + " numbers, got " +
                std::to_string(value.size()));
  }
  if (!jacobian.empty() && jacobian.size() != static_cast<size_t>(K) * 4) {
    throw Error(std::string(what) + ": keypoint jacobian must hold K*4 = " + std::to_string(K * 4) +
                " numbers or none, got " + std::to_string(jacobian.size()));
  }
}

double hull_area(const std::vector<float>& xy) {
  const size_t n = xy.size() / 2;
  if (n < 3) return 0.0;
  std::vector<Point> pts(n);
  for (size_t i = 0; i < n; ++i) {
    pts[i] = Point{xy[2 * i], xy[2 * i + 1]};
    if (!std::isfinite(pts[i].x) || !std::isfinite(pts[i].y)) return 0.0;
  }
  std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a.x < b.x || (a.x == b.x && a.y < b.y); });
  // Andrew's monotone chain: lower hull left to right, then upper hull right to left, dropping
  // points that do not make a strict counter-clockwise turn (so collinear points vanish).
  std::vector<Point> hull(2 * n);
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    while (k >= 2 && cross(hull[k - 2], hull[k - 1], pts[i]) <= 0) --k;
    hull[k++] = pts[i];
  }
  for (size_t i = n - 1, lower = k + 1; i-- > 0;) {
    while (k >= lower && cross(hull[k - 2], hull[k - 1], pts[i]) <= 0) --k;
    hull[k++] = pts[i];
  }
  // The last point repeats the first.
  if (k < 4) return 0.0;
  double twice_area = 0.0;
  for (size_t i = 0; i + 1 < k; ++i) twice_area += hull[i].x * hull[i + 1].y - hull[i + 1].x * hull[i].y;
  return std::fabs(twice_area) * 0.5;
}

double hull_area(const Keypoints& kp) { return hull_area(kp.value); }

double movement_scale(const Keypoints& source, const Keypoints& driving_initial) {
  const double source_area = hull_area(source);
  const double driving_area = hull_area(driving_initial);
  if (!(source_area > 0.0) || !(driving_area > 0.0)) return 1.0;
  return std::sqrt(source_area) / std::sqrt(driving_area);
}

Keypoints normalize_kp(const Keypoints& source, const Keypoints& driving, const Keypoints& driving_initial,
                       bool adapt_scale, bool relative_movement, bool relative_jacobian) {
  const double scale = adapt_scale ? movement_scale(source, driving_initial) : 1.0;
  return normalize_kp_with_scale(source, driving, driving_initial, scale, relative_movement, relative_jacobian);
}

Keypoints normalize_kp_with_scale(const Keypoints& source, const Keypoints& driving,
                                  const Keypoints& driving_initial, double scale, bool relative_movement,
                                  bool relative_jacobian) {
  driving.check("driving keypoints");
  Keypoints out = driving;
  if (!relative_movement) return out;
  source.check("source keypoints");
  driving_initial.check("initial driving keypoints");
  check_same_k(source, driving, "driving");
  check_same_k(source, driving_initial, "initial driving");
  const int K = driving.K;
  for (int i = 0; i < 2 * K; ++i) {
    const double diff = static_cast<double>(driving.value[i]) - driving_initial.value[i];
    out.value[i] = static_cast<float>(diff * scale + source.value[i]);
  }
  if (relative_jacobian && driving.has_jacobian()) {
    if (!source.has_jacobian() || !driving_initial.has_jacobian()) {
      throw Error("relative jacobian needs the jacobians of the source and of the initial driving frame");
    }
    for (int k = 0; k < K; ++k) {
      const float* jd = &driving.jacobian[4 * k];
      const float* j0 = &driving_initial.jacobian[4 * k];
      const float* js = &source.jacobian[4 * k];
      const double a = jd[0], b = jd[1], c = jd[2], d = jd[3];
      const double p = j0[0], q = j0[1], r = j0[2], s = j0[3];
      const double det = p * s - q * r;
      // inverse(J_initial) = [[s, -q], [-r, p]] / det
      const double i00 = s / det, i01 = -q / det, i10 = -r / det, i11 = p / det;
      // rel = J_driving @ inverse(J_initial)
      const double r00 = a * i00 + b * i10, r01 = a * i01 + b * i11;
      const double r10 = c * i00 + d * i10, r11 = c * i01 + d * i11;
      // rel @ J_source
      float* o = &out.jacobian[4 * k];
      o[0] = static_cast<float>(r00 * js[0] + r01 * js[2]);
      o[1] = static_cast<float>(r00 * js[1] + r01 * js[3]);
      o[2] = static_cast<float>(r10 * js[0] + r11 * js[2]);
      o[3] = static_cast<float>(r10 * js[1] + r11 * js[3]);
    }
  }
  return out;
}

}  // namespace fomm
