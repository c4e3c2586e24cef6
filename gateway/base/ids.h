// Random identifiers from the kernel's CSPRNG (getrandom(2)). Thread-safe.
#pragma once

#include <string>

namespace lintel {

// A random RFC 4122 version 4 UUID, lower-case: "1b4e28ba-2fa1-4d2b-883f-0016d3cca427".
std::string NewUuid();

}  // namespace lintel
