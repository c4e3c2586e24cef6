// The `type: wiegand` reader driver: a Wiegand source (GPIO edges, a serial converter, or the
// replay socket) -> wiegand::WiegandReader -> a credential presented to the core
// (core::Gateway::Admit: decision, lock actuator, journal) -> grant/deny feedback on the reader's
// LED and beeper.
//
// Noise (bad parity, glitches, unknown lengths, a failed PIN entry) and source errors are counted
// and logged (at most kLoggedPerMinute lines a minute per reader, then one line saying how many
// were left out); they never reach the engine and never grant. A source that cannot be opened or
// goes away (an unplugged converter) is reopened after ReaderContext::retry_after, doubling up to
// 60 s while it keeps failing.
//
// Secrets: PIN digits go to the engine only; logs and Status() carry counts and error names.
#pragma once

#include <memory>

#include "gateway/devices/readers.h"

namespace lintel::devices {

inline constexpr int kLoggedPerMinute = 10;

std::unique_ptr<ReaderDriver> MakeWiegandDriver(const ReaderContext& context,
                                                const config::ReaderConfig& reader,
                                                const rules::Policy& policy);

}  // namespace lintel::devices
