#include "snapshot_store.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace sysvmq::server {

namespace {

std::shared_ptr<spdlog::logger> log() {
  static auto l = spdlog::get("server") ? spdlog::get("server") : spdlog::default_logger();
  return l;
}

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

// Closes a descriptor on every path out.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string utc_stamp() {
  const std::time_t t = std::time(nullptr);
  struct tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

SnapshotDirLock::~SnapshotDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

SnapshotFile::SnapshotFile(std::string state_dir)
    : dir_(std::move(state_dir)), path_(dir_ + "/queues.snapshot") {}

SnapshotDirLock SnapshotFile::prepare() const {
  std::error_code ec;
  if (!std::filesystem::exists(dir_, ec)) {
    std::filesystem::create_directories(dir_, ec);
    if (ec) throw std::runtime_error("state directory " + dir_ + ": " + ec.message());
    ::chmod(dir_.c_str(), 0700);
  }
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0) fail("state directory " + dir_, errno);
  if (!S_ISDIR(st.st_mode)) throw std::runtime_error("state directory " + dir_ + ": not a directory");
  if (st.st_uid != ::geteuid())
    throw std::runtime_error("state directory " + dir_ + " belongs to uid " +
                             std::to_string(st.st_uid) + ", not to the daemon's uid " +
                             std::to_string(::geteuid()));
  if ((st.st_mode & 022) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    throw std::runtime_error("state directory " + dir_ + " is writable by others (mode " + mode +
                             "): whoever can replace its snapshot can plant queues; chmod go-w it");
  }
  const std::string lock_path = dir_ + "/lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) fail("cannot open " + lock_path, errno);
  SnapshotDirLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      throw std::runtime_error("state directory " + dir_ + " is in use by another sysvmqd");
    fail("cannot lock " + lock_path, errno);
  }
  return lock;
}

std::optional<std::vector<std::byte>> SnapshotFile::read() const {
  Fd f{::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (f.fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    fail("cannot open " + path_, errno);
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail("cannot stat " + path_, errno);
  if (!S_ISREG(st.st_mode)) throw std::runtime_error(path_ + ": not a regular file");
  std::vector<std::byte> data(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(f.fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot read " + path_, errno);
    if (n == 0) break;  // shrank under us: decoding will say "truncated"
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  return data;
}

void SnapshotFile::replace(std::span<const std::byte> image) const {
  const std::string tmp = path_ + ".tmp";
  {
    Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)};
    if (f.fd < 0) fail("cannot create " + tmp, errno);
    std::size_t done = 0;
    while (done < image.size()) {
      const ssize_t n = ::write(f.fd, image.data() + done, image.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        fail("cannot write " + tmp, err);
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fsync(f.fd) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      fail("cannot fsync " + tmp, err);
    }
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot rename " + tmp + " to " + path_, err);
  }
  // The rename is durable only once the directory is.
  Fd d{::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0 || ::fsync(d.fd) != 0) fail("cannot fsync " + dir_, errno);
}

std::string SnapshotFile::keep_aside() const {
  const std::string base = path_ + ".refused-" + utc_stamp();
  for (int n = 0; n < 1000; ++n) {
    const std::string to = n == 0 ? base : base + "." + std::to_string(n);
    if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return to;
    if (errno != EEXIST) fail("cannot move " + path_ + " aside to " + to, errno);
  }
  throw std::runtime_error("cannot move " + path_ + " aside: too many refused snapshots already");
}

SnapshotWriter::SnapshotWriter(SnapshotFile file)
    : file_(std::move(file)), thread_([this] { run(); }) {}

SnapshotWriter::~SnapshotWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void SnapshotWriter::submit(std::vector<std::byte> image, std::int64_t taken_at) {
  {
    std::lock_guard lock(mutex_);
    pending_.emplace(std::move(image), taken_at);
  }
  changed_.notify_all();
}

void SnapshotWriter::write_now(std::span<const std::byte> image, std::int64_t taken_at) {
  {
    std::unique_lock lock(mutex_);
    pending_.reset();
    changed_.wait(lock, [this] { return !busy_; });
    busy_ = true;
  }
  try {
    write(image, taken_at);
  } catch (...) {
    std::lock_guard lock(mutex_);
    busy_ = false;
    changed_.notify_all();
    throw;
  }
  std::lock_guard lock(mutex_);
  busy_ = false;
  changed_.notify_all();
}

SnapshotWriter::Status SnapshotWriter::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void SnapshotWriter::write(std::span<const std::byte> image, std::int64_t taken_at) {
  try {
    file_.replace(image);
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex_);
    ++status_.failed;
    status_.last_error = e.what();
    throw;
  }
  std::lock_guard lock(mutex_);
  ++status_.written;
  status_.last_taken_at = taken_at;
  status_.last_bytes = image.size();
  status_.last_error.clear();
}

void SnapshotWriter::run() {
  bool failing = false;
  for (;;) {
    std::pair<std::vector<std::byte>, std::int64_t> job;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return stopping_ || (pending_ && !busy_); });
      if (stopping_) return;
      job = std::move(*pending_);
      pending_.reset();
      busy_ = true;
    }
    // A failing disk fails every interval: said once, and once more when it recovers.
    try {
      write(job.first, job.second);
      if (failing) log()->info("periodic snapshots are written again ({})", file_.path());
      failing = false;
      log()->debug("snapshot written: {} bytes to {}", job.first.size(), file_.path());
    } catch (const std::exception& e) {
      if (!failing) log()->error("periodic snapshot failed (retried every interval): {}", e.what());
      failing = true;
    }
    {
      std::lock_guard lock(mutex_);
      busy_ = false;
    }
    changed_.notify_all();
  }
}

}  // namespace sysvmq::server
