#include "gateway/devices/modbus_io.h"

#include "drivers/modbus/link.h"
#include "drivers/modbus/module.h"
#include "gateway/base/log.h"

namespace lintel::devices {

namespace {

using nlohmann::json;

modbus::Table TableOf(config::IoTable t) {
  switch (t) {
    case config::IoTable::kCoil:
      return modbus::Table::kCoil;
    case config::IoTable::kDiscreteInput:
      return modbus::Table::kDiscreteInput;
    case config::IoTable::kHoldingRegister:
      return modbus::Table::kHoldingRegister;
    case config::IoTable::kInputRegister:
      return modbus::Table::kInputRegister;
  }
  return modbus::Table::kCoil;
}

std::string Where(const config::IoModuleConfig& m) {
  return m.rtu ? "rtu " + m.device : "tcp " + m.host + ":" + std::to_string(m.port);
}

// What the posted callbacks may still touch after the adapter is gone: nothing but this.
struct Shared {
  bool alive = true;
  bool online = false;
};

class ModbusIoModule final : public IoModule {
 public:
  ModbusIoModule(const IoContext& context, const config::IoModuleConfig& m, IoEvents events)
      : where_(Where(m)) {
    modbus::ModuleConfig mc;
    mc.id = m.id;
    for (const config::IoPointConfig& p : m.points) {
      modbus::NamedPoint np{
          p.name, {TableOf(p.table), static_cast<uint16_t>(p.address), p.bit, p.inverted}};
      mc.inputs.push_back(np);
      if (p.writable()) mc.outputs.push_back(np);
    }
    mc.poll_interval = std::chrono::milliseconds(m.poll_ms);
    mc.debounce = std::chrono::milliseconds(m.debounce_ms);
    if (m.watchdog_address >= 0) {
      mc.watchdog = modbus::Watchdog{static_cast<uint16_t>(m.watchdog_address),
                                     static_cast<uint16_t>(m.watchdog_value),
                                     std::chrono::milliseconds(m.watchdog_every_ms)};
    }
    modbus::TransportConfig t;
    t.kind = m.rtu ? modbus::TransportConfig::kRtu : modbus::TransportConfig::kTcp;
    t.host = m.host;
    t.port = m.port;
    t.device = m.device;
    t.baud = m.baud;
    t.parity = m.parity;
    t.unit_id = m.unit_id;
    t.response_timeout = std::chrono::milliseconds(m.timeout_ms);

    auto link = modbus::MakeLibModbusLink(t);
    if (!link.ok()) {
      error_ = link.status().ToString();
      LogError("modbus", "io module " + m.id + " (" + where_ + "): " + error_);
      return;
    }
    std::shared_ptr<Shared> shared = shared_;
    modbus::ModuleCallbacks cb;
    cb.on_input = [shared, f = events.on_input](const std::string& name, bool value, int64_t t) {
      if (shared->alive && f) f(name, value, t);
    };
    cb.on_online = [shared, f = events.on_online](bool online, const std::string& reason) {
      if (!shared->alive) return;
      shared->online = online;
      if (f) f(online, reason);
    };
    cb.on_error = [shared, f = events.on_error](const lintel::Status& s) {
      if (shared->alive && f) f(s);
    };
    EventLoop& loop = context.loop;
    module_ = std::make_unique<modbus::ModbusModule>(
        std::move(mc), std::move(*link), context.clock,
        [&loop](std::function<void()> task) { loop.Post(std::move(task)); }, std::move(cb));
    lintel::Status started = module_->Start();
    if (!started.ok()) {
      error_ = started.ToString();
      LogError("modbus", "io module " + m.id + ": " + error_);
      module_.reset();
    }
  }

  ~ModbusIoModule() override {
    shared_->alive = false;
    if (module_) module_->Stop();
  }

  void SetOutput(std::string_view point, bool active) override {
    if (!module_) return;
    lintel::Status st = module_->SetOutput(point, active);
    if (!st.ok()) LogError("modbus", st.ToString());
  }

  bool online() const override { return shared_->online; }

  json Status() const override {
    json s = {{"type", "modbus"}, {"address", where_}, {"online", shared_->online}};
    if (!module_) {
      s["error"] = error_;
      return s;
    }
    modbus::ModuleHealth h = module_->Health();
    s["polls"] = h.polls;
    s["failures"] = h.failures;
    s["reconnects"] = h.reconnects;
    if (!h.last_error.empty()) s["last_error"] = h.last_error;
    return s;
  }

 private:
  std::string where_;
  std::string error_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  std::unique_ptr<modbus::ModbusModule> module_;
};

}  // namespace

std::unique_ptr<IoModule> MakeModbusModule(const IoContext& context,
                                           const config::IoModuleConfig& module, IoEvents events) {
  return std::make_unique<ModbusIoModule>(context, module, std::move(events));
}

}  // namespace lintel::devices
