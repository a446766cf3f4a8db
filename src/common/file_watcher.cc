#include "common/file_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace sluice {
namespace fs = std::filesystem;

namespace {
// Content of every watched file (directories expanded), for change detection. Hashing keeps
// memory small; a hash collision would only delay a reload to the next real change.
void AppendFile(const fs::path& p, std::string* out) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  *out += p.string();
  *out += '\0';
  *out += std::to_string(std::hash<std::string>{}(ss.str()));
  *out += '\n';
}
}  // namespace

FileWatcher::FileWatcher(std::vector<std::string> paths, std::function<void()> on_change,
                         std::chrono::milliseconds poll_interval, std::string baseline)
    : paths_(std::move(paths)), on_change_(std::move(on_change)), poll_(poll_interval) {
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_fd_ >= 0) {
    std::set<std::string> dirs;
    for (const auto& p : paths_) {
      std::error_code ec;
      fs::path path(p);
      dirs.insert(fs::is_directory(path, ec) ? path.string()
                                             : (path.has_parent_path() ? path.parent_path().string() : "."));
    }
    for (const auto& d : dirs) {
      inotify_add_watch(inotify_fd_, d.c_str(),
                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MODIFY);
    }
  }
  // Before the thread starts, so no change can slip between. With a caller's baseline, a
  // change since the caller read the files shows at the first poll or event.
  last_ = baseline.empty() ? Fingerprint() : std::move(baseline);
  thread_ = std::thread([this] { Loop(); });
}

FileWatcher::~FileWatcher() {
  Stop();
  if (inotify_fd_ >= 0) close(inotify_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void FileWatcher::Stop() {
  if (stop_.exchange(true)) {
    if (thread_.joinable()) thread_.join();
    return;
  }
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
  }
  if (thread_.joinable()) thread_.join();
}

std::string FileWatcher::FingerprintOf(const std::vector<std::string>& paths) {
  std::string out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(p, ec)) {
        auto ext = e.path().extension();
        if (ext == ".yaml" || ext == ".yml") files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) AppendFile(f, &out);
    } else {
      AppendFile(p, &out);
    }
  }
  return out;
}

void FileWatcher::Loop() {
  auto next_poll = std::chrono::steady_clock::now() + poll_;
  while (!stop_.load()) {
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_poll - std::chrono::steady_clock::now());
    int n = poll(fds, 2, static_cast<int>(std::max<int64_t>(0, wait.count())));
    if (stop_.load()) break;
    bool event = false;
    if (n > 0 && (fds[0].revents & POLLIN)) {
      char buf[4096];
      while (read(inotify_fd_, buf, sizeof(buf)) > 0) {
      }
      event = true;
      // Debounce: writers often touch a file several times (or swap several symlinks).
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      while (read(inotify_fd_, buf, sizeof(buf)) > 0) {
      }
    }
    if (!event && std::chrono::steady_clock::now() < next_poll) continue;
    next_poll = std::chrono::steady_clock::now() + poll_;
    std::string now = Fingerprint();
    if (now != last_) {
      last_ = std::move(now);
      on_change_();
    }
  }
}

}  // namespace sluice
