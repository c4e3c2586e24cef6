#include "gateway/core/state_import.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "gateway/base/log.h"
#include "gateway/base/thread_priority.h"
#include "gateway/codec/json_text.h"
#include "gateway/store/index_image_file.h"
#include "gateway/store/store.h"
#include "rules/index.h"

namespace lintel::core {

using nlohmann::json;

namespace {

Status CannotRead(const std::string& path, int err) {
  std::string message = "cannot read " + path + ": " + strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Status::NotFound(message +
                              " (as the daemon sees it: under systemd it has a private /tmp and "
                              "no /home; put the file where user lintel can read it)");
    case EACCES:
    case EPERM:
      return Status::FailedPrecondition(message + " (the daemon runs as user lintel)");
    default:
      return Status::IoError(message);
  }
}

// Whether `caller` may read a file of this owner and mode, by the mode bits alone. Supplementary
// groups are not known from SO_PEERCRED: a file readable only through one is refused.
bool CallerMayRead(const ImportCaller& caller, const struct stat& st) {
  if (caller.uid == 0 || caller.uid == geteuid()) return true;
  if (st.st_uid == caller.uid) return (st.st_mode & S_IRUSR) != 0;
  if (st.st_gid == caller.gid) return (st.st_mode & S_IRGRP) != 0;
  return (st.st_mode & S_IROTH) != 0;
}

}  // namespace

Result<json> ReadStateFile(const std::string& path, const ImportCaller& caller) {
  if (path.empty() || path[0] != '/') {
    return Status::InvalidArgument("import path must be absolute: " + path);
  }
  // O_NONBLOCK: opening a FIFO must not hang the worker; it is refused below as not regular.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return CannotRead(path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return CannotRead(path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return Status::InvalidArgument(path + " is not a regular file");
  }
  if (!CallerMayRead(caller, st)) {
    close(fd);
    return Status::FailedPrecondition("cannot read " + path + ": uid " +
                                      std::to_string(caller.uid) + " (gid " +
                                      std::to_string(caller.gid) + ") may not read it");
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxImportFileBytes) {
    close(fd);
    return Status::InvalidArgument(path + " is " + std::to_string(st.st_size) +
                                   " bytes, more than the " + std::to_string(kMaxImportFileBytes) +
                                   " a state import may be");
  }
  std::string text;
  text.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  for (;;) {
    if (got == text.size()) text.resize(got + 65536);  // the file may have grown
    ssize_t n = read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return CannotRead(path, err);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got > kMaxImportFileBytes) {
      close(fd);
      return Status::InvalidArgument(path + " is more than the " +
                                     std::to_string(kMaxImportFileBytes) +
                                     " bytes a state import may be");
    }
  }
  close(fd);
  text.resize(got);
  Result<json> parsed = codec::ParseJsonText(text, path);
  if (!parsed.ok()) return parsed.status();
  if (parsed->is_object() && parsed->contains("records")) {
    json records = std::move((*parsed)["records"]);
    return records;
  }
  return parsed;
}

struct StateImporter::Job {
  json request;
  ImportCaller caller;
  Done done;
  rules::Site site;
  std::string store_path;
  uint64_t generation = 0;
};

StateImporter::StateImporter(Gateway& gateway, Poster post, StageHook stage_hook)
    : gateway_(gateway), post_(std::move(post)), stage_hook_(std::move(stage_hook)) {}

StateImporter::~StateImporter() {
  *self_ = nullptr;
  cancel_ = true;
  if (worker_.joinable()) worker_.join();
}

void StateImporter::Start(json request, const ImportCaller& caller, Done done) {
  auto answer_later = [this, &done](Result<json> result) {
    post_([done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
  };
  const std::string cmd = request.value("cmd", "");
  if (cmd == "import") {
    auto path = request.find("path");
    if (path == request.end() || !path->is_string()) {
      return answer_later(Status::InvalidArgument(
          "import needs \"path\": the absolute path of a state file the daemon can read"));
    }
  } else if (!request.contains("records")) {
    return answer_later(
        Status::InvalidArgument("state.import needs \"records\" (a snapshot's records object)"));
  }
  if (running_) {
    return answer_later(
        Status::Unavailable("a state import is already running; try again when it has finished"));
  }
  if (Status allowed = gateway_.ImportAllowed(); !allowed.ok()) return answer_later(allowed);
  if (worker_.joinable()) worker_.join();  // the previous import has posted its outcome: it ends
  running_ = true;
  Job job{std::move(request),
          caller,
          std::move(done),
          config::MakeSite(gateway_.config()),
          gateway_.config().store_path,
          gateway_.config_generation()};
  worker_ = std::thread([this, job = std::move(job)]() mutable { Run(std::move(job)); });
}

void StateImporter::Run(Job job) {
  NameThisThread("state-import");
  // Bulk work, as the state worker's: below the doors and the cloud path, the default slice.
  LowerThisThreadPriority(kBulkNiceAbove);
  std::weak_ptr<StateImporter*> self = self_;
  std::optional<rules::ImageStamp> stamp;
  auto finish = [&](Result<json> result, std::shared_ptr<const rules::Index> index) {
    post_([self, done = std::move(job.done), result = std::move(result), index = std::move(index),
           generation = job.generation, stamp]() mutable {
      std::shared_ptr<StateImporter*> alive = self.lock();
      if (!alive || *alive == nullptr) return;
      StateImporter& importer = **alive;
      importer.running_ = false;
      if (result.ok()) {
        result =
            importer.gateway_.AdoptImport(std::move(index), std::move(*result), generation, stamp);
      }
      done(std::move(result));
    });
  };
  auto stage = [&](std::string_view name) {
    if (stage_hook_) stage_hook_(name);
    return !cancel_;
  };
  try {
    json records_json;
    if (job.request.contains("path")) {
      Result<json> read = ReadStateFile(job.request["path"].get<std::string>(), job.caller);
      if (!read.ok()) return finish(read.status(), nullptr);
      records_json = std::move(*read);
    } else {
      records_json = std::move(job.request["records"]);
    }
    job.request = json();
    if (!stage("read")) return;
    Result<rules::Records> records = ParseValidState(job.site, records_json);
    records_json = json();  // the records are decoded: give the text's memory back
    if (!records.ok()) return finish(records.status(), nullptr);
    if (!stage("validated")) return;
    store::StoreOptions options;
    options.verify_on_open = false;
    Result<std::unique_ptr<store::Store>> store = store::Store::Open(job.store_path, options);
    if (!store.ok()) return finish(store.status(), nullptr);
    // Checked again on this connection: the state may only be replaced while no cloud owns it.
    Result<store::Position> pos = (*store)->AppliedPosition();
    if (!pos.ok()) return finish(pos.status(), nullptr);
    if (pos->epoch != 0 || pos->version != 0) {
      return finish(Status::FailedPrecondition("this gateway's state comes from the cloud; the "
                                               "property system is the source of truth, so a "
                                               "local import is refused"),
                    nullptr);
    }
    Result<rules::ImageStamp> before = store::ReadStateStamp(**store);
    Status stored = (*store)->ReplaceState(*records, store::Position{0, 0});
    if (!stored.ok()) return finish(stored, nullptr);
    // The state the index below is of (for its image), when no other commit came between.
    Result<rules::ImageStamp> after = store::ReadStateStamp(**store);
    if (before.ok() && after.ok() && after->state_serial == before->state_serial + 1) {
      stamp = *after;
    }
    store->reset();
    if (!stage("stored")) return;
    std::vector<std::string> warnings;
    std::shared_ptr<const rules::Index> index = rules::BuildIndex(job.site, *records, &warnings);
    for (const std::string& w : warnings) LogWarning("core", "imported state: " + w);
    json counts = RecordCounts(*records);
    { rules::Records release = std::move(*records); }  // freed here, not on the loop
    if (!stage("indexed")) return;
    finish(std::move(counts), std::move(index));
  } catch (const std::exception& e) {
    // Thread boundary: nothing may escape into std::terminate.
    LogError("core", std::string("state import failed: ") + e.what());
    finish(Status::Internal(std::string("state import failed: internal error: ") + e.what()),
           nullptr);
  }
}

}  // namespace lintel::core
