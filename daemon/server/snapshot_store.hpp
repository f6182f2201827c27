// snapshot_store.hpp: the disk side of snapshots (the bytes are daemon/core/snapshot.hpp's)
// — the state directory, the one snapshot file in it, its atomic replacement (write a
// temporary file, fsync, rename over, fsync the directory), keeping a refused file aside,
// and a writer thread so periodic snapshots never block the daemon's io thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace sysvmq::server {

// Held while a daemon uses a state directory (an flock on <dir>/lock): a second daemon
// pointed at the same directory is refused instead of overwriting the first's snapshot.
class SnapshotDirLock {
 public:
  explicit SnapshotDirLock(int fd) : fd_(fd) {}
  SnapshotDirLock(SnapshotDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  SnapshotDirLock& operator=(SnapshotDirLock&&) = delete;
  ~SnapshotDirLock();

 private:
  int fd_;
};

class SnapshotFile {
 public:
  // <state_dir>/queues.snapshot
  explicit SnapshotFile(std::string state_dir);

  // Makes the directory (mode 0700) when it is missing. Throws std::runtime_error, naming
  // the path, when it is not a directory, belongs to another user, or others may write to
  // it (whoever can replace the snapshot can plant queues with any owner in the daemon),
  // or when another daemon holds its lock.
  [[nodiscard]] SnapshotDirLock prepare() const;

  const std::string& dir() const { return dir_; }
  const std::string& path() const { return path_; }

  // The file's bytes; nullopt when there is none. Throws std::runtime_error naming the
  // path on any other failure.
  std::optional<std::vector<std::byte>> read() const;

  // Replaces the file with `image` so that a crash at any moment leaves either the old
  // file or the new one whole. Throws std::runtime_error naming the step that failed.
  void replace(std::span<const std::byte> image) const;

  // Renames the file to <path>.refused-<UTC time>, never over another file; returns the
  // new path. Throws std::runtime_error when it cannot.
  std::string keep_aside() const;

 private:
  std::string dir_;
  std::string path_;
};

// Writes snapshots on its own thread. The newest image handed in wins: one not yet
// started when a newer one arrives is never written.
class SnapshotWriter {
 public:
  struct Status {
    std::uint64_t written = 0;
    std::uint64_t failed = 0;
    std::int64_t last_taken_at = 0;  // Unix seconds of the last snapshot written
    std::size_t last_bytes = 0;
    std::string last_error;          // of the last failed write, "" after a success
  };

  explicit SnapshotWriter(SnapshotFile file);
  ~SnapshotWriter();  // finishes a write in progress, drops one not started
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  void submit(std::vector<std::byte> image, std::int64_t taken_at);
  // Drops a pending image, waits for a write in progress, then writes `image` on the
  // calling thread. Throws std::runtime_error (after counting the failure) when it fails.
  void write_now(std::span<const std::byte> image, std::int64_t taken_at);

  Status status() const;
  const SnapshotFile& file() const { return file_; }

 private:
  void run();
  void write(std::span<const std::byte> image, std::int64_t taken_at);  // with mutex_ free

  SnapshotFile file_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<std::pair<std::vector<std::byte>, std::int64_t>> pending_;
  bool busy_ = false;
  bool stopping_ = false;
  Status status_;
  std::thread thread_;
};

}  // namespace sysvmq::server
