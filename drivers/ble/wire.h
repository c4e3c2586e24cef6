// Little-endian byte writing and bounds-checked reading for the Nuki codec. Internal to
// lintel_ble (not part of its API): the decoders check a payload's size before reading, and the
// Reader never reads past its span anyway (a short read yields zeros and sets failed()).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lintel::ble::wire {

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(v); }
  void U16(uint16_t v) {
    out_.push_back(static_cast<uint8_t>(v));
    out_.push_back(static_cast<uint8_t>(v >> 8));
  }
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void Bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  // `s` in exactly `width` bytes: truncated, or padded with zeros.
  void FixedString(std::string_view s, size_t width) {
    for (size_t i = 0; i < width; ++i)
      out_.push_back(i < s.size() ? static_cast<uint8_t>(s[i]) : 0);
  }
  std::vector<uint8_t>& out() { return out_; }
  std::vector<uint8_t> Take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}

  uint8_t U8() { return Has(1) ? in_[pos_++] : 0; }
  uint16_t U16() {
    if (!Has(2)) return 0;
    uint16_t v = static_cast<uint16_t>(in_[pos_] | (in_[pos_ + 1] << 8));
    pos_ += 2;
    return v;
  }
  uint32_t U32() {
    if (!Has(4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(in_[pos_ + i]) << (8 * i);
    pos_ += 4;
    return v;
  }
  template <size_t N>
  std::array<uint8_t, N> Array() {
    std::array<uint8_t, N> a{};
    if (!Has(N)) return a;
    for (size_t i = 0; i < N; ++i) a[i] = in_[pos_ + i];
    pos_ += N;
    return a;
  }
  // A zero-padded string field of `width` bytes: the bytes before the first NUL.
  std::string FixedString(size_t width) {
    if (!Has(width)) return {};
    std::string s;
    for (size_t i = 0; i < width && in_[pos_ + i] != 0; ++i)
      s.push_back(static_cast<char>(in_[pos_ + i]));
    pos_ += width;
    return s;
  }
  std::vector<uint8_t> Rest() {
    std::vector<uint8_t> r(in_.begin() + static_cast<std::ptrdiff_t>(pos_), in_.end());
    pos_ = in_.size();
    return r;
  }
  size_t remaining() const { return in_.size() - pos_; }
  bool failed() const { return failed_; }

 private:
  bool Has(size_t n) {
    if (in_.size() - pos_ < n) {
      failed_ = true;
      return false;
    }
    return true;
  }
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace lintel::ble::wire
