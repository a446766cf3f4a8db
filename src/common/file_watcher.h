// Watches configuration files for changes and calls back (on the watcher's own thread) when
// their content changes. Uses inotify on the files' directories, so Kubernetes' symlink-swapped
// ConfigMap/Secret mounts (..data -> ..2024_xx) are seen, plus a poll of content hashes as a
// fallback (inotify can miss events on some filesystems). Changes are debounced.
//
// Thread safety: the callback runs on the watcher thread; Stop() (or the destructor) joins it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace sluice {

class FileWatcher {
 public:
  // `paths`: files or directories (a directory's *.yaml/*.yml files are read).
  // `baseline`: the fingerprint (FingerprintOf) the caller took before it read the files
  // itself; a change made between that read and the watcher's start is then reported too.
  // Empty: the content at construction is the baseline.
  FileWatcher(std::vector<std::string> paths, std::function<void()> on_change,
              std::chrono::milliseconds poll_interval = std::chrono::milliseconds(2000),
              std::string baseline = {});
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  void Stop();
  // A fingerprint of the watched content (exposed for tests).
  std::string Fingerprint() const { return FingerprintOf(paths_); }
  // The fingerprint of `paths` now: take it before loading the files, pass it as `baseline`.
  static std::string FingerprintOf(const std::vector<std::string>& paths);

 private:
  void Loop();
  std::vector<std::string> paths_;
  std::function<void()> on_change_;
  std::chrono::milliseconds poll_;
  std::atomic<bool> stop_{false};
  int inotify_fd_ = -1;
  int wake_fd_ = -1;
  std::string last_;  // fingerprint seen last (baseline taken in the constructor)
  std::thread thread_;
};

}  // namespace sluice
