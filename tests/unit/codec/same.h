// Field-by-field equality of the rules model values, for the codec tests. rules/model.h declares
// no operator== (the model is not this folder's to change), so the tests bring their own; a
// failure prints both sides as contract JSON.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <tuple>
#include <variant>
#include <vector>

#include "gateway/codec/records_json.h"
#include "rules/model.h"
#include "rules/ops.h"
#include "tests/unit/codec/same_values.h"

namespace lintel::codec::testing {

inline nlohmann::json Show(const rules::Records& r) { return RecordsToJson(r); }
template <typename T>
nlohmann::json Show(const T& x) {
  return ToJson(x);
}

// EXPECT_PRED_FORMAT2(IsSame, a, b)
template <typename T>
::testing::AssertionResult IsSame(const char* a_expr, const char* b_expr, const T& a, const T& b) {
  if (Same(a, b)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a_expr << " differs from " << b_expr << "\n"
                                       << a_expr << ": " << Show(a).dump(2) << "\n"
                                       << b_expr << ": " << Show(b).dump(2);
}

}  // namespace lintel::codec::testing
