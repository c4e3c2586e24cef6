// Internal to lintel_config: the state the section parsers share, and the sections themselves.
//
// One source file per section (or per group of small sections) defines a parse function and a
// `SectionSpec` row; config.cpp lists the rows in file order (kSections), walks the top level with
// them, then runs the checks that span sections (CheckReferences). A section parser reads its keys
// with MapWalker (yaml_util.h), fills `Loader::config`, reports problems to `Loader::problems`, and
// records in the Loader whatever a later cross-check needs (ids, references, claimed hardware).
//
// Only config/*.cpp include this header (it exposes yaml-cpp types through yaml_util.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/yaml_util.h"

namespace lintel::config::internal {

// What the section parsers build, plus what cross-checks need after every section is read.
struct Loader {
  Loader(std::string file, std::string_view text) : problems(std::move(file), text) {}

  Problems problems;
  Config config;
  bool saw_doors = false;
  std::map<std::string, Pos, std::less<>> door_ids;  // first occurrence of each id
  std::map<std::string, Pos, std::less<>> reader_ids;
  std::map<std::string, Pos, std::less<>> kids;
  struct DoorRef {
    std::string from;  // reader "front-keypad"
    std::string door;
    Pos pos;
  };
  std::vector<DoorRef> door_refs;
  // Hardware a reader uses ("gpio gpiochip0 line 17", "serial device /dev/ttyUSB0", "replay
  // socket /run/..."): each may be claimed once.
  std::map<std::string, std::pair<std::string, Pos>, std::less<>> claims;
  std::map<std::string, Pos, std::less<>> module_ids;
  std::map<std::string, Pos, std::less<>> automation_ids;
  // "module.point" references to check once every module is read.
  struct PointRef {
    std::string from;  // door "front" io.lock
    std::string ref;
    bool output;  // must be writable
    Pos pos;
  };
  std::vector<PointRef> point_refs;
  std::vector<DoorRef> automation_door_refs;
  // Doors wired to an I/O lock point: where their doors[].io is (a door with a BLE lock has none).
  std::map<std::string, Pos, std::less<>> doors_with_io;
  std::map<std::string, Pos, std::less<>> lock_ids;
  std::vector<DoorRef> lock_door_refs;  // each lock's door, for CheckLocks
  // security_pin_file paths, which no lock's credentials may overwrite.
  std::vector<std::pair<std::string, Pos>> pin_files;
  std::map<std::string, Pos, std::less<>> panel_ids;
  std::vector<DoorRef> panel_id_refs;    // each panel's id (in `door`), for CheckPanels
  std::vector<DoorRef> panel_door_refs;  // each panel's door, for CheckPanels
  std::vector<DoorRef> akuvox_panels;    // the type of each Akuvox panel (they need `intercom`)
  std::vector<std::pair<std::string, Pos>> secret_files;  // panel password and secret files
  bool saw_intercom = false;
};

// Records that `who` uses `what`; reports a second user.
void Claim(Loader& l, const std::string& what, const std::string& who, Pos pos);

// Records `id` in `seen`; reports it when it was there already.
void CheckUnique(Loader& l, std::map<std::string, Pos, std::less<>>& seen, std::string_view what,
                 const Field<std::string>& id);

// The checks of the locks section that need the doors (locks.cpp); run by CheckReferences once
// every section is read and the doors section was there.
void CheckLocks(Loader& l);

// The checks of the panels and intercom sections that need the doors, readers and locks
// (panels.cpp); run by CheckReferences once every section is read and the doors section was there.
void CheckPanels(Loader& l);

// ---- values several sections share -------------------------------------------------------------

inline constexpr std::string_view kPointRefExpected =
    "a point reference \"module.point\" (io_modules)";

bool IsPointRef(std::string_view s);

// Reads a "module.point" key and queues it for CheckReferences.
std::optional<std::string> PointRefKey(Loader& l, MapWalker& w, std::string_view key, Need need,
                                       const std::string& from, bool output);

inline constexpr int32_t kBauds[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200};

// ---- the sections ------------------------------------------------------------------------------

// The top level, one row per section. A new section (brokers, drivers) is one more row and its
// parse function; the walker takes care of unknown, duplicate, missing and mistyped keys.
enum class Shape { kMapping, kList };
struct SectionSpec {
  std::string_view key;
  Need need;
  Shape shape;
  std::span<const std::string_view> keys;  // of the mapping, or of each list item
  void (*parse)(Loader&, MapWalker&);      // once per mapping, or once per list item
  std::string_view noun = "";              // lists: see ListSpec
  std::string_view name_key = "";
  bool non_empty = false;
};

// Each defined (constinit) in the file named beside it.
extern const SectionSpec kSiteSection;         // site.cpp
extern const SectionSpec kGatewaySection;      // site.cpp
extern const SectionSpec kStoreSection;        // site.cpp
extern const SectionSpec kControlSection;      // site.cpp
extern const SectionSpec kLoggingSection;      // site.cpp
extern const SectionSpec kPolicySection;       // site.cpp
extern const SectionSpec kCloudSection;        // cloud.cpp
extern const SectionSpec kDoorsSection;        // doors.cpp
extern const SectionSpec kReadersSection;      // readers.cpp
extern const SectionSpec kIoModulesSection;    // io_modules.cpp
extern const SectionSpec kSiteIoSection;       // io_modules.cpp
extern const SectionSpec kAutomationsSection;  // automations.cpp
extern const SectionSpec kLocksSection;        // locks.cpp
extern const SectionSpec kPanelsSection;       // panels.cpp
extern const SectionSpec kIntercomSection;     // panels.cpp

}  // namespace lintel::config::internal
