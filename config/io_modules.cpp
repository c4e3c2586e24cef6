// The io_modules section (Modbus door I/O modules and their points) and the site inputs (io).
#include <algorithm>
#include <iterator>

#include "config/loader.h"

namespace lintel::config::internal {

namespace {

constexpr std::string_view kModuleKeys[] = {"id",       "type",       "tcp",     "rtu",
                                            "unit_id",  "timeout_ms", "poll_ms", "debounce_ms",
                                            "watchdog", "points"};
constexpr std::string_view kModuleTypes[] = {"modbus"};
constexpr std::string_view kTcpKeys[] = {"host", "port"};
constexpr std::string_view kRtuKeys[] = {"device", "baud", "parity"};
constexpr std::string_view kParities[] = {"none", "even", "odd"};
constexpr std::string_view kWatchdogKeys[] = {"register", "value", "coil", "every_ms"};
constexpr std::string_view kPointKeys[] = {"name",           "coil", "input",   "holding",
                                           "input_register", "bit",  "inverted"};

void ParseModule(Loader& l, MapWalker& w) {
  IoModuleConfig m;
  if (auto id = w.Id("id", Need::kRequired)) {
    m.id = id->value;
    CheckUnique(l, l.module_ids, "io module id", *id);
  }
  if (auto v = w.OneOf("type", Need::kRequired, kModuleTypes)) m.type = v->value;
  const std::string who = w.name();
  int transports = 0;
  w.Mapping("tcp", Need::kOptional, kTcpKeys, [&](MapWalker& t) {
    ++transports;
    if (auto v = t.String("host", Need::kRequired, "a host name or IP address")) m.host = v->value;
    if (auto v = t.Int("port", Need::kOptional, 1, 65535)) m.port = v->value;
  });
  w.Mapping("rtu", Need::kOptional, kRtuKeys, [&](MapWalker& r) {
    ++transports;
    m.rtu = true;
    if (auto v = r.String("device", Need::kRequired, kPathExpected)) m.device = v->value;
    if (auto v = r.Int("baud", Need::kOptional, 1200, 115200,
                       " (1200, 2400, 4800, 9600, 19200, 38400, 57600 or 115200)")) {
      if (std::find(std::begin(kBauds), std::end(kBauds), v->value) == std::end(kBauds)) {
        l.problems.Add(v->pos,
                       "rtu.baud must be one of 1200, 2400, 4800, 9600, 19200, 38400, "
                       "57600, 115200, got " +
                           std::to_string(v->value));
      } else {
        m.baud = v->value;
      }
    }
    if (auto v = r.OneOf("parity", Need::kOptional, kParities)) {
      m.parity = v->value == "even" ? 'E' : v->value == "odd" ? 'O' : 'N';
    }
  });
  if (transports != 1) {
    l.problems.Add(w.pos(),
                   who + " needs exactly one of tcp or rtu, got " + std::to_string(transports));
  }
  if (auto v = w.Int("unit_id", Need::kOptional, 0, 255)) {
    if (m.rtu && (v->value < 1 || v->value > 247)) {
      l.problems.Add(v->pos,
                     "unit_id must be between 1 and 247 on RTU, got " + std::to_string(v->value));
    } else {
      m.unit_id = v->value;
    }
  }
  // One module per address and unit id (several may share an RTU bus or a TCP gateway).
  if (transports == 1 && (m.rtu ? !m.device.empty() : !m.host.empty())) {
    Claim(
        l,
        (m.rtu ? "rtu device " + m.device : "modbus tcp " + m.host + ":" + std::to_string(m.port)) +
            " unit " + std::to_string(m.unit_id),
        who, w.pos());
  }
  if (auto v = w.Int("timeout_ms", Need::kOptional, 10, 5000)) m.timeout_ms = v->value;
  if (auto v = w.Int("poll_ms", Need::kOptional, 10, 10000)) m.poll_ms = v->value;
  if (auto v = w.Int("debounce_ms", Need::kOptional, 0, 5000)) m.debounce_ms = v->value;
  std::optional<Pos> watchdog_coil_pos;
  w.Mapping("watchdog", Need::kOptional, kWatchdogKeys, [&](MapWalker& wd) {
    // Either a holding register written with `value` (the module's own host watchdog), or a coil
    // toggled as a heartbeat (coil-only modules have no watchdog register: they refuse one).
    if (auto v = wd.Int("coil", Need::kOptional, 0, 65535)) {
      m.watchdog_coil = v->value;
      watchdog_coil_pos = v->pos;
      if (auto r = wd.Int("register", Need::kOptional, 0, 65535)) {
        l.problems.Add(r->pos,
                       "watchdog needs one of register (a holding register with `value`, the "
                       "module's host watchdog) or coil (a heartbeat coil, toggled), not both");
      }
      if (auto r = wd.Int("value", Need::kOptional, 0, 65535)) {
        l.problems.Add(r->pos, "watchdog.value goes with register; a coil watchdog is toggled");
      }
    } else {
      if (auto v = wd.Int("register", Need::kRequired, 0, 65535,
                          " (or coil: N for a module without a watchdog register)")) {
        m.watchdog_address = v->value;
      }
      if (auto v = wd.Int("value", Need::kRequired, 0, 65535)) m.watchdog_value = v->value;
    }
    if (auto v = wd.Int("every_ms", Need::kOptional, 50, 60000)) m.watchdog_every_ms = v->value;
  });
  std::map<std::string, Pos, std::less<>> names;
  w.List("points", Need::kRequired, {"point", "name", kPointKeys, true}, [&](MapWalker& p) {
    IoPointConfig point;
    if (auto v = p.Id("name", Need::kRequired)) {
      point.name = v->value;
      CheckUnique(l, names, "point name", *v);
    }
    int tables = 0;
    constexpr std::pair<std::string_view, IoTable> kTables[] = {
        {"coil", IoTable::kCoil},
        {"input", IoTable::kDiscreteInput},
        {"holding", IoTable::kHoldingRegister},
        {"input_register", IoTable::kInputRegister}};
    for (auto [key, table] : kTables) {
      if (auto v = p.Int(key, Need::kOptional, 0, 65535)) {
        ++tables;
        point.table = table;
        point.address = v->value;
      }
    }
    if (tables != 1) {
      l.problems.Add(p.pos(), p.name() +
                                  " needs exactly one address: coil, input (a discrete "
                                  "input), holding or input_register");
    }
    bool reg = point.table == IoTable::kHoldingRegister || point.table == IoTable::kInputRegister;
    if (auto v = p.Int("bit", Need::kOptional, 0, 15)) {
      if (!reg) {
        l.problems.Add(v->pos, "bit only applies to holding and input_register points");
      } else {
        point.bit = v->value;
      }
    } else if (reg && tables == 1) {
      l.problems.Add(p.pos(), p.name() + " is a register: give the bit (0..15) it maps to");
    }
    if (auto v = p.Bool("inverted", Need::kOptional)) point.inverted = v->value;
    m.points.push_back(std::move(point));
  });
  if (watchdog_coil_pos) {
    for (const IoPointConfig& p : m.points) {
      if (p.table == IoTable::kCoil && p.address == m.watchdog_coil) {
        l.problems.Add(*watchdog_coil_pos, "watchdog.coil " + std::to_string(m.watchdog_coil) +
                                               " is also point " + p.name +
                                               ": the heartbeat needs a coil of its own");
      }
    }
  }
  l.config.io_modules.push_back(std::move(m));
}

constexpr std::string_view kSiteIoKeys[] = {"fire_release", "tamper"};
void ParseSiteIo(Loader& l, MapWalker& w) {
  if (auto v = PointRefKey(l, w, "fire_release", Need::kOptional, "io.fire_release", false)) {
    l.config.io.fire_release = *v;
  }
  if (auto v = PointRefKey(l, w, "tamper", Need::kOptional, "io.tamper", false)) {
    l.config.io.tamper = *v;
  }
}

}  // namespace

constinit const SectionSpec kIoModulesSection = {
    "io_modules", Need::kOptional, Shape::kList, kModuleKeys, ParseModule, "io module", "id"};
constinit const SectionSpec kSiteIoSection = {"io", Need::kOptional, Shape::kMapping, kSiteIoKeys,
                                              ParseSiteIo};

}  // namespace lintel::config::internal

namespace lintel::config {

const IoPointConfig* FindPoint(const Config& c, std::string_view ref,
                               const IoModuleConfig** module) {
  if (module != nullptr) *module = nullptr;
  size_t dot = ref.rfind('.');
  if (dot == std::string_view::npos) return nullptr;
  for (const IoModuleConfig& m : c.io_modules) {
    if (m.id != ref.substr(0, dot)) continue;
    if (module != nullptr) *module = &m;
    for (const IoPointConfig& p : m.points) {
      if (p.name == ref.substr(dot + 1)) return &p;
    }
  }
  return nullptr;
}

}  // namespace lintel::config
