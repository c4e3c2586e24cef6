#include "gateway/devices/io.h"

namespace lintel::devices {

namespace {

constexpr IoModuleType kIoModuleTypes[] = {
    {"modbus", nullptr},  // filled in by the Modbus adapter
};

}  // namespace

std::span<const IoModuleType> IoModuleTypes() { return kIoModuleTypes; }

}  // namespace lintel::devices
