// Keypoint normalization for animation, the same arithmetic as Python's
// ppfom.kp_norm.normalize_kp / movement_scale (relative motion and adapt_movement_scale).
#pragma once

#include <vector>

namespace fomm {

// One set of K keypoints (batch size 1). value: K x 2 (x, y in [-1, 1], x along the width).
// jacobian: K x 2 x 2 row-major ([[a, b], [c, d]] -> a, b, c, d), or empty when the detector has
// no jacobian.
struct Keypoints {
  int K = 0;
  std::vector<float> value;
  std::vector<float> jacobian;

  bool has_jacobian() const { return !jacobian.empty(); }
  // Throws Error (mentioning `what`) unless value has K*2 and jacobian 0 or K*4 entries.
  void check(const char* what) const;
};

// Area of the 2-D convex hull of the points (x0, y0, x1, y1, ...), computed in double precision
// with Andrew's monotone chain. 0 for fewer than 3 points, collinear points or non-finite
// coordinates (where scipy's ConvexHull, used by Python, raises and ppfom falls back to 0).
double hull_area(const std::vector<float>& xy);
double hull_area(const Keypoints& kp);

// sqrt(area(hull(source))) / sqrt(area(hull(driving_initial))); 1 when either area is 0.
double movement_scale(const Keypoints& source, const Keypoints& driving_initial);

// The keypoints that drive the generator.
//  relative_movement: value = (driving - initial) * scale + source, where scale is
//    movement_scale(source, initial) with adapt_scale and 1 without; with relative_jacobian
//    (and jacobians present) jacobian = (J_driving @ inverse(J_initial)) @ J_source, using the
//    closed-form 2x2 inverse [[s, -q], [-r, p]] / (p*s - q*r) of [[p, q], [r, s]]; otherwise the
//    driving jacobian is kept.
//  no relative_movement: the driving keypoints unchanged.
Keypoints normalize_kp(const Keypoints& source, const Keypoints& driving, const Keypoints& driving_initial,
                       bool adapt_scale, bool relative_movement, bool relative_jacobian);

// The same with a movement scale computed once for the whole video (Python's `scale=`).
Keypoints normalize_kp_with_scale(const Keypoints& source, const Keypoints& driving,
                                  const Keypoints& driving_initial, double scale, bool relative_movement,
                                  bool relative_jacobian);

}  // namespace fomm
