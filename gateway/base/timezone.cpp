#include "gateway/base/timezone.h"

#include <date/tz.h>

namespace lintel {

LocalTime LocalFromOffset(Instant t, int32_t utc_offset_s) {
  int64_t local = ToUnix(t) + utc_offset_s;
  int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
  int64_t sec_of_day = local - days * 86400;
  // 1970-01-01 was a Thursday (index 3 with Monday = 0).
  int64_t wd = (days % 7 + 7 + 3) % 7;
  return {static_cast<int32_t>(days), static_cast<int32_t>(sec_of_day / 60),
          static_cast<unsigned>(wd), utc_offset_s};
}

namespace {

class IanaTimeZone final : public TimeZone {
 public:
  IanaTimeZone(std::string name, const date::time_zone* zone)
      : name_(std::move(name)), zone_(zone) {}
  const std::string& name() const override { return name_; }
  LocalTime ToLocal(Instant t) const override {
    date::sys_info info = zone_->get_info(t);
    return LocalFromOffset(t, static_cast<int32_t>(info.offset.count()));
  }

 private:
  std::string name_;
  const date::time_zone* zone_;  // owned by date's process-wide tz database
};

class FixedZone final : public TimeZone {
 public:
  FixedZone(std::string name, int32_t offset) : name_(std::move(name)), offset_(offset) {}
  const std::string& name() const override { return name_; }
  LocalTime ToLocal(Instant t) const override { return LocalFromOffset(t, offset_); }

 private:
  std::string name_;
  int32_t offset_;
};

}  // namespace

Result<std::shared_ptr<const TimeZone>> LoadTimeZone(std::string_view iana_name) {
  try {
    const date::time_zone* z = date::locate_zone(iana_name);
    return std::shared_ptr<const TimeZone>(
        std::make_shared<IanaTimeZone>(std::string(iana_name), z));
  } catch (const std::exception&) {
    return Status::NotFound("unknown time zone \"" + std::string(iana_name) +
                            "\" (expected an IANA name such as Europe/Berlin)");
  }
}

std::shared_ptr<const TimeZone> FixedTimeZone(std::string name, int32_t utc_offset_s) {
  return std::make_shared<FixedZone>(std::move(name), utc_offset_s);
}

}  // namespace lintel
