#include "gateway/devices/io.h"

#include "gateway/devices/modbus_io.h"

namespace lintel::devices {

namespace {

constexpr IoModuleType kIoModuleTypes[] = {
    {"modbus", MakeModbusModule},
};

}  // namespace

std::span<const IoModuleType> IoModuleTypes() { return kIoModuleTypes; }

}  // namespace lintel::devices
