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
    if (m.watchdog_address >= 0 || m.watchdog_coil >= 0) {
      const bool coil = m.watchdog_coil >= 0;
      mc.watchdog = modbus::Watchdog{
          static_cast<uint16_t>(coil ? m.watchdog_coil : m.watchdog_address),
          static_cast<uint16_t>(m.watchdog_value), std::chrono::milliseconds(m.watchdog_every_ms),
          coil ? modbus::Watchdog::Kind::kCoil : modbus::Watchdog::Kind::kRegister};
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
    cb.on_output = [shared, f = events.on_output](const std::string& name,
                                                  const modbus::OutputReport& r) {
      if (!shared->alive || !f) return;
      OutputEvent e;
      switch (r.kind) {
        case modbus::OutputReport::Kind::kWritten:
          e.kind = OutputEvent::Kind::kWritten;
          break;
        case modbus::OutputReport::Kind::kWriteFailed:
          e.kind = OutputEvent::Kind::kWriteFailed;
          break;
        case modbus::OutputReport::Kind::kReadBack:
          e.kind = OutputEvent::Kind::kReadBack;
          break;
        case modbus::OutputReport::Kind::kFault:
          e.kind = OutputEvent::Kind::kFault;
          break;
        case modbus::OutputReport::Kind::kFaultCleared:
          e.kind = OutputEvent::Kind::kFaultCleared;
          break;
      }
      e.value = r.value;
      e.wanted = r.wanted;
      e.failures = r.failures;
      if (!r.error.ok()) e.error = r.error.message();
      f(name, e);
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
    // Each output as read back (not as wanted): what the module's relays really are.
    json outputs = json::object();
    auto word = [](const std::optional<bool>& v) -> json {
      if (!v) return nullptr;
      return *v ? "on" : "off";
    };
    for (const modbus::OutputHealth& o : h.outputs) {
      json j = {{"read_back", word(o.read_back)}, {"wanted", word(o.wanted)}};
      if (o.failures > 0) j["failures"] = o.failures;
      if (o.fault) j["fault"] = true;
      outputs[o.name] = std::move(j);
    }
    s["outputs"] = std::move(outputs);
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
