// The `type: modbus` door I/O module: config::IoModuleConfig -> modbus::ModbusModule (its own
// thread, drivers/modbus) behind the IoModule capability. Every point of the module is polled as an
// input (outputs are read back); coils and holding-register bits are its outputs. The module's
// callbacks arrive on the core loop (EventLoop::Post) and are dropped once the adapter is gone.
#pragma once

#include <memory>

#include "gateway/devices/io.h"

namespace lintel::devices {

std::unique_ptr<IoModule> MakeModbusModule(const IoContext& context,
                                           const config::IoModuleConfig& module, IoEvents events);

}  // namespace lintel::devices
