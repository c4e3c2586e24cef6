// The top level: the section table, the checks that span sections, parsing the text, the public
// entry points and the summary. Each section's parser lives in its own file (loader.h lists them);
// the YAML helpers and the schema walker are in yaml_util.{h,cpp}.
#include "config/config.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "config/loader.h"

namespace lintel::config {

namespace {

using internal::Describe;
using internal::Join;
using internal::Loader;
using internal::MapWalker;
using internal::Pos;
using internal::Quote;
using internal::SectionSpec;
using internal::Shape;
using internal::ToPos;

// The top level in file order; the rows live with their parsers (loader.h names the files).
constexpr const SectionSpec* kSections[] = {
    &internal::kSiteSection,      &internal::kGatewaySection, &internal::kStoreSection,
    &internal::kControlSection,   &internal::kLoggingSection, &internal::kPolicySection,
    &internal::kCloudSection,     &internal::kDoorsSection,   &internal::kReadersSection,
    &internal::kIoModulesSection, &internal::kSiteIoSection,  &internal::kAutomationsSection,
    &internal::kLocksSection,     &internal::kPanelsSection,  &internal::kIntercomSection,
};

std::vector<std::string_view> SectionKeys() {
  std::vector<std::string_view> keys;
  for (const SectionSpec* s : kSections) keys.push_back(s->key);
  return keys;
}

// Checks that need more than one section.
void CheckReferences(Loader& l) {
  for (const Loader::PointRef& ref : l.point_refs) {
    const IoModuleConfig* module = nullptr;
    const IoPointConfig* point = FindPoint(l.config, ref.ref, &module);
    if (point == nullptr) {
      l.problems.Add(
          ref.pos,
          ref.from + " refers to " + Quote(ref.ref) + ", which is not " +
              (module == nullptr ? "an io module" : "a point of io module " + Quote(module->id)) +
              " (expected \"module.point\")");
    } else if (ref.output && !point->writable()) {
      l.problems.Add(ref.pos, ref.from + " must be an output (a coil or a holding register bit), " +
                                  Quote(ref.ref) + " is an input");
    }
  }
  if (!l.saw_doors) return;  // the doors section itself is reported
  for (const Loader::DoorRef& ref : l.automation_door_refs) l.door_refs.push_back(ref);
  for (const Loader::DoorRef& ref : l.door_refs) {
    if (l.door_ids.find(ref.door) == l.door_ids.end()) {
      l.problems.Add(ref.pos, ref.from + " refers to door " + Quote(ref.door) +
                                  " which is not defined in doors");
    }
  }
  internal::CheckLocks(l);
  internal::CheckPanels(l);
}

// ---- parsing -----------------------------------------------------------------------------------

// The first character YAML forbids (C0 controls other than tab, line feed and carriage return, and
// DEL). yaml-cpp misreads some of them (YAML::LoadAll loops forever on a NUL in a comment), so
// such text never reaches it.
struct BadByte {
  size_t offset;
  Pos pos;
};
std::optional<BadByte> FirstControlCharacter(std::string_view text) {
  Pos pos;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++pos.line;
      pos.column = 1;
      continue;
    }
    if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) return BadByte{i, pos};
    ++pos.column;
  }
  return std::nullopt;
}

// Records where documents start; builds nothing.
class DocumentCounter final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  std::vector<YAML::Mark> starts;
};

struct Documents {
  YAML::Node first;                  // Null when the text holds no document
  std::optional<YAML::Mark> second;  // where a second document starts, if there is one
};

// Throws YAML::ParserException on a syntax error (in either of the first two documents).
Documents Parse(std::string_view text) {
  Documents d;
  d.first = YAML::Load(std::string(text));
  // Look for a second document without YAML::LoadAll, which builds every one of them (and, on
  // some malformed input, an endless stream of empty ones).
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  DocumentCounter counter;
  if (parser.HandleNextDocument(counter) && parser.HandleNextDocument(counter) &&
      counter.starts.size() > 1) {
    d.second = counter.starts[1];
  }
  return d;
}

void Walk(Loader& l, const Documents& documents) {
  const std::vector<std::string_view> section_keys = SectionKeys();
  if (documents.second) {
    l.problems.Add(ToPos(*documents.second),
                   "a second YAML document is not allowed; keep the whole configuration in one");
  }
  if (documents.first.IsNull()) {
    l.problems.Add({}, "the file is empty; expected a mapping with the sections " +
                           Join(section_keys) + " (see config/README.md)");
    return;
  }
  const YAML::Node& root = documents.first;
  if (!root.IsMap()) {
    l.problems.Add(ToPos(root.Mark()), "the top level must be a mapping with the sections " +
                                           Join(section_keys) + ", got " + Describe(root));
    return;
  }
  MapWalker top(l.problems, root, "at the top level", "", section_keys);
  for (const SectionSpec* s : kSections) {
    auto parse = [&l, s](MapWalker& w) { s->parse(l, w); };
    if (s->shape == Shape::kMapping) {
      top.Mapping(s->key, s->need, s->keys, parse);
    } else {
      top.List(s->key, s->need, {s->noun, s->name_key, s->keys, s->non_empty}, parse);
    }
  }
  CheckReferences(l);
}

std::string Plural(int64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

}  // namespace

std::string ConfigProblem::ToString() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

Result<Config> LoadConfigText(std::string_view text, std::string name_for_errors,
                              std::vector<ConfigProblem>* problems) {
  if (problems != nullptr) problems->clear();
  Loader l(name_for_errors, text);
  l.config.source_path = std::move(name_for_errors);

  std::optional<Documents> documents;
  if (std::optional<BadByte> bad = FirstControlCharacter(text)) {
    auto byte = static_cast<unsigned char>(text[bad->offset]);
    static constexpr char kHex[] = "0123456789abcdef";
    l.problems.Add(bad->pos, std::string("control character 0x") + kHex[byte >> 4] +
                                 kHex[byte & 15] +
                                 " is not allowed in YAML (is this a text file?)");
  } else {
    try {
      documents = Parse(text);
    } catch (const YAML::DeepRecursion& e) {
      l.problems.Add(ToPos(e.mark), "YAML syntax error: lists and mappings nested too deeply");
    } catch (const YAML::ParserException& e) {
      l.problems.Add(ToPos(e.mark), "YAML syntax error: " + e.msg);
    } catch (const std::exception& e) {
      l.problems.Add({}, std::string("cannot parse the file as YAML: ") + e.what());
    }
  }
  if (documents) {
    try {
      Walk(l, *documents);
    } catch (const std::exception& e) {
      // The walker only calls yaml-cpp functions that do not throw on the nodes it checked; this
      // is a safety net, so the caller still gets a Status rather than an exception.
      l.problems.Add({}, std::string("internal error while checking the file: ") + e.what());
    }
  }

  if (l.problems.empty()) return std::move(l.config);
  std::vector<ConfigProblem> found = l.problems.Take();
  std::string message;
  for (const ConfigProblem& p : found) {
    if (!message.empty()) message += '\n';
    message += p.ToString();
  }
  if (problems != nullptr) *problems = std::move(found);
  return Status::InvalidArgument(std::move(message));
}

Result<Config> LoadConfigFile(const std::string& path, std::vector<ConfigProblem>* problems) {
  if (problems != nullptr) problems->clear();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot read " + path + ": " + std::strerror(errno));
  std::string text;
  char buffer[16384];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      ConfigProblem p{path, 1, 1,
                      "the file is larger than " + std::to_string(kMaxConfigBytes) +
                          " bytes; a Lintel configuration is a few kilobytes"};
      std::string message = p.ToString();
      if (problems != nullptr) problems->push_back(std::move(p));
      return Status::InvalidArgument(std::move(message));
    }
  }
  if (in.bad()) return Status::IoError("cannot read " + path + ": " + std::strerror(errno));
  return LoadConfigText(text, path, problems);
}

std::string Summarize(const Config& c) {
  std::ostringstream out;
  out << "site " << c.site_id << " (time zone " << c.time_zone << "), gateway " << c.gateway_id
      << "\n";
  out << "store " << c.store_path << ", control socket " << c.control_socket << ", log level "
      << LogLevelName(c.log_level) << "\n";
  out << Plural(static_cast<int64_t>(c.doors.size()), "door", "doors") << ":";
  for (size_t i = 0; i < c.doors.size(); ++i) {
    out << (i == 0 ? " " : ", ") << c.doors[i].id << (c.doors[i].common ? " (common)" : "");
  }
  out << "\n"
      << Plural(static_cast<int64_t>(c.readers.size()), "reader", "readers")
      << (c.readers.empty() ? "" : ":");
  for (size_t i = 0; i < c.readers.size(); ++i) {
    const ReaderConfig& r = c.readers[i];
    out << (i == 0 ? " " : ", ") << r.id << " -> " << r.door;
    std::vector<std::string> notes;
    if (r.keypad) notes.push_back("keypad");
    if (r.wiegand) {
      const WiegandConfig& w = *r.wiegand;
      std::string formats;
      for (wiegand::CardFormat f : w.formats) {
        formats += (formats.empty() ? "" : "/") + std::string(wiegand::CardFormatName(f));
      }
      std::string from =
          w.source == WiegandSource::kGpio
              ? "gpio " + w.gpio_chip + " " + std::to_string(w.d0) + "/" + std::to_string(w.d1)
          : w.source == WiegandSource::kSerial ? "serial " + w.serial_device
                                               : "replay " + w.replay_socket;
      notes.push_back("wiegand " + from + ", " + formats);
      if (w.keys != WiegandKeys::kNone) {
        notes.push_back(std::string("keys ") + std::string(WiegandKeysName(w.keys)));
      }
      if (w.pin_burst) notes.push_back("PIN burst");
      if (w.feedback.any()) notes.push_back("feedback");
    }
    for (size_t n = 0; n < notes.size(); ++n) {
      out << (n == 0 ? " (" : ", ") << notes[n] << (n + 1 == notes.size() ? ")" : "");
    }
  }
  if (!c.io_modules.empty()) {
    out << "\n"
        << Plural(static_cast<int64_t>(c.io_modules.size()), "io module", "io modules") << ":";
    for (size_t i = 0; i < c.io_modules.size(); ++i) {
      const IoModuleConfig& m = c.io_modules[i];
      out << (i == 0 ? " " : ", ") << m.id << " (" << m.type << " "
          << (m.rtu ? "rtu " + m.device + " " + std::to_string(m.baud) + " " + m.parity
                    : "tcp " + m.host + ":" + std::to_string(m.port))
          << " unit " << m.unit_id << ", "
          << Plural(static_cast<int64_t>(m.points.size()), "point", "points")
          << (m.watchdog_address >= 0 || m.watchdog_coil >= 0 ? ", watchdog" : "") << ")";
    }
    std::vector<std::string> wired;
    for (const DoorConfig& d : c.doors) {
      if (d.io)
        wired.push_back(d.id + " (lock " + d.io->lock + (d.io->contact.empty() ? "" : ", contact") +
                        (d.io->rex.empty() ? "" : ", rex") +
                        (d.io->fire_egress ? ", fire egress" : "") + ")");
    }
    out << "\ndoor I/O:";
    for (size_t i = 0; i < wired.size(); ++i) out << (i == 0 ? " " : ", ") << wired[i];
    if (!c.io.fire_release.empty()) out << "; fire release " << c.io.fire_release;
    if (!c.io.tamper.empty()) out << "; tamper " << c.io.tamper;
  }
  if (!c.locks.empty()) {
    out << "\n" << Plural(static_cast<int64_t>(c.locks.size()), "lock", "locks") << ":";
    for (size_t i = 0; i < c.locks.size(); ++i) {
      const LockConfig& k = c.locks[i];
      std::string sync = k.sync_codes && k.sync_authorizations ? "syncs codes and authorizations"
                         : k.sync_codes                        ? "syncs codes"
                         : k.sync_authorizations               ? "syncs authorizations"
                                                               : "no sync";
      // Paths only, never what the files hold.
      out << (i == 0 ? " " : ", ") << k.id << " -> " << k.door << " (" << k.type << " " << k.address
          << " on " << k.adapter << ", " << UnlockActionName(k.unlock_action) << ", " << sync
          << ")";
    }
  }
  if (!c.panels.empty()) {
    out << "\n" << Plural(static_cast<int64_t>(c.panels.size()), "panel", "panels") << ":";
    for (size_t i = 0; i < c.panels.size(); ++i) {
      const PanelConfig& p = c.panels[i];
      // The URL and the auth scheme, never a file or what it holds.
      out << (i == 0 ? " " : ", ") << p.id << " -> " << p.door << " (" << p.type << " " << p.url
          << ", " << PanelAuthName(p.auth) << " auth, "
          << (p.type == kPanelType2N ? "switch " : "relay ") << p.output
          << (p.keypad ? ", keypad" : "") << (p.action_url ? ", action URLs" : "") << ")";
    }
    if (!c.intercom.listen_address.empty()) {
      out << "\nintercom: Action URL listener on " << c.intercom.listen_address << " port "
          << c.intercom.listen_port;
    }
  }
  if (!c.automations.empty()) {
    out << "\n"
        << Plural(static_cast<int64_t>(c.automations.size()), "automation", "automations") << ":";
    for (size_t i = 0; i < c.automations.size(); ++i) {
      out << (i == 0 ? " " : ", ") << c.automations[i].id << " (on " << c.automations[i].on << ")";
    }
  }
  out << "\n"
      << Plural(static_cast<int64_t>(c.trusted_keys.size()), "trusted cloud key",
                "trusted cloud keys")
      << (c.trusted_keys.empty() ? "" : ":");
  for (size_t i = 0; i < c.trusted_keys.size(); ++i) {
    out << (i == 0 ? " " : ", ") << c.trusted_keys[i].kid;  // the kid only, never key bytes
  }
  const CloudConfig& cc = c.cloud;
  if (cc.broker.empty()) {
    out << "\ncloud: no broker (runs on the stored state)";
  } else {
    out << "\ncloud: " << cc.broker << " (MQTT " << (cc.mqtt_version == 5 ? "5" : "3.1.1")
        << (cc.cert_file.empty() ? "" : ", client certificate") << "); offline: "
        << (cc.offline == OfflinePolicy::kStaffOnly
                ? "staff only " + std::to_string(cc.staff_only_after_h) +
                      " h after the head expires"
                : std::string("keep enforcing"));
  }
  const rules::Policy& p = c.policy;
  out << "\npolicy: rent grace " << Plural(p.rent_grace_days, "day", "days") << "; PINs "
      << p.pin_min_length << "-" << p.pin_max_length << " digits, leading 9 "
      << (p.pin_allow_leading_9 ? "allowed" : "reserved") << "; keypad lockout ";
  if (p.lockout_failures == 0) {
    out << "off";
  } else {
    out << "after " << Plural(p.lockout_failures, "failure", "failures") << " within "
        << p.lockout_window_s << " s, for " << p.lockout_s << " s";
  }
  out << "\n";
  return out.str();
}

rules::Site MakeSite(const Config& c) {
  rules::Site site;
  site.id = c.site_id;
  for (const DoorConfig& d : c.doors) site.doors.push_back({d.id, d.common});
  site.policy = c.policy;
  site.zone = c.zone;
  return site;
}

}  // namespace lintel::config
