// A paired BLE lock's credentials file (config::LockConfig::credentials): the shared key and the
// authorization id `lintelctl lock pair` obtained, kept by the daemon in a file of mode 0600.
//
// Format (one JSON object, so support can see which lock it belongs to without the key):
//   {"format": "lintel-nuki-credentials/1", "authorization_id": 7, "app_id": 123456,
//    "shared_key": "<64 hex digits>", "lock_uuid": "<32 hex digits>",
//    "paired_at": "2026-12-02T10:00:00Z"}
// The key is a secret: it never appears in a Status message, a log line, an event or status.
//
// Thread-safety: plain functions over the file system; any thread (the BLE worker writes, the core
// reads at start).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "drivers/ble/nuki_pairing.h"
#include "gateway/base/status.h"
#include "gateway/base/time.h"

namespace lintel::devices {

struct LockCredentials {
  ble::Credentials credentials;  // shared key + authorization id
  uint32_t app_id = 0;           // the app id this gateway paired as (sent in Lock Action)
  std::array<uint8_t, 16> lock_uuid{};
  Instant paired_at{};
};

// Reads `path`. Errors: NotFound (no such file: the lock is not paired); FailedPrecondition (not a
// regular file, or group/others may access it: the message says which and the chmod that fixes
// it); IoError (cannot be read); InvalidArgument (not such a file: names the field, never a value).
Result<LockCredentials> ReadLockCredentials(const std::string& path);

// Writes `path` atomically: a temporary file of mode 0600 in the same directory, fsync, rename,
// fsync of the directory. The directory must exist. Errors: IoError naming the step and errno.
Status WriteLockCredentials(const std::string& path, const LockCredentials& c);

}  // namespace lintel::devices
