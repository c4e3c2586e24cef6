// libFuzzer target for the cloud records parser (gateway/codec). Not built by CMake; build by hand:
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
//     tests/fuzz/records_fuzz.cpp gateway/codec/records_json.cpp gateway/codec/json_text.cpp \
//     gateway/codec/records_fast.cpp rules/model.cpp gateway/base/status.cpp \
//     gateway/base/time.cpp -lsimdjson -o records_fuzz
//   ./records_fuzz -max_len=4096 corpus/
//
// Checks, beyond "no crash, no sanitizer report": whatever parses also survives the round trip
// RecordsToJson -> text -> ParseRecordsText, unchanged, and every op that parses round-trips too.
// The simdjson fast path (records_fast.h, as ParseCloudMessage runs it: only for text without a
// backslash) gives up or gives exactly the current parser's value, for records and for an op.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "gateway/codec/json_text.h"
#include "gateway/codec/records_fast.h"
#include "gateway/codec/records_json.h"
#include "rules/engine.h"
#include "rules/validate.h"
#include "tests/unit/codec/same_values.h"

namespace {

// A small fixed site: the doors the seed corpus (config/examples/demo-state.json) names.
const lintel::rules::Site& FuzzSite() {
  static const lintel::rules::Site site = [] {
    lintel::rules::Site s;
    s.id = "fuzz";
    for (const char* d : {"front", "garage", "bike-room", "unit-101", "unit-102", "roof"}) {
      s.doors.push_back({d, std::string_view(d) == "front"});
    }
    s.zone = lintel::FixedTimeZone("UTC+1", 3600);
    return s;
  }();
  return site;
}

// Whatever parsed must validate or be rejected with reasons, and index and decide without a crash,
// valid or not (a stored state is indexed tolerantly, so invalid input must be survivable too).
void ValidateIndexDecide(const lintel::rules::Records& records) {
  using namespace lintel::rules;
  std::vector<std::string> errors = Validate(FuzzSite(), records);
  std::vector<std::string> warnings;
  Engine engine(BuildIndex(FuzzSite(), records, &warnings));
  lintel::Instant t = lintel::FromUnix(1795000000);
  for (const Credential& c : records.credentials) {
    Presented p;
    if (c.type == CredentialType::kPin) {
      p = PinPresented(c.pin);
    } else if (c.card.format == CardFormat::kUid) {
      p = UidPresented(c.card.uid);
    } else {
      p.kind = PresentedKind::kCard;
      p.format = c.card.format;
      p.facility = c.card.facility;
      p.number = c.card.number;
    }
    Trace trace;
    Decision d = engine.Decide({"front", "kp", p}, t, &trace);
    if (trace.empty() || trace.back().passed != d.granted) std::abort();
  }
}

// The fast path on `text`: nullopt when it gives up (always for a backslash, as in the gateway).
template <typename T, typename F>
std::optional<T> Fast(std::string_view text, F fast) {
  if (text.find('\\') != std::string_view::npos) return std::nullopt;
  static simdjson::dom::parser parser;
  simdjson::dom::element e;
  if (parser.parse(text.data(), text.size()).get(e) != simdjson::SUCCESS) return std::nullopt;
  T out;
  if (!fast(e, &out)) return std::nullopt;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using lintel::codec::ParseRecordsText;
  using lintel::codec::RecordsToJson;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  lintel::Result<lintel::rules::Records> records = ParseRecordsText(text, "fuzz");
  if (auto fast = Fast<lintel::rules::Records>(text, lintel::codec::FastParseRecords)) {
    if (!records.ok() || !lintel::codec::testing::Same(*fast, *records)) std::abort();
  }
  if (records.ok()) {
    const nlohmann::json once = RecordsToJson(*records);
    lintel::Result<lintel::rules::Records> again = ParseRecordsText(once.dump(), "round trip");
    if (!again.ok() || RecordsToJson(*again) != once) std::abort();
    ValidateIndexDecide(*records);
  }

  // The same bytes as one delta op.
  lintel::Result<nlohmann::json> j = lintel::codec::ParseJsonText(text, "fuzz");
  if (auto fast = Fast<lintel::rules::Op>(text, lintel::codec::FastParseOp)) {
    if (!j.ok()) std::abort();
    lintel::Result<lintel::rules::Op> op = lintel::codec::ParseOp(*j, "ops[0]");
    if (!op.ok() || !lintel::codec::testing::Same(*fast, *op)) std::abort();
  }
  if (j.ok()) {
    lintel::Result<lintel::rules::Op> op = lintel::codec::ParseOp(*j, "ops[0]");
    if (op.ok()) {
      const nlohmann::json once = lintel::codec::ToJson(*op);
      lintel::Result<lintel::rules::Op> again = lintel::codec::ParseOp(once);
      if (!again.ok() || lintel::codec::ToJson(*again) != once) std::abort();
    }
  }
  return 0;
}
