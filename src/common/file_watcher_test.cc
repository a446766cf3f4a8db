#include "common/file_watcher.h"

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "gtest/gtest.h"

namespace sluice {
namespace {
namespace fs = std::filesystem;

class Counter {
 public:
  void Hit() {
    std::lock_guard<std::mutex> l(mu_);
    ++n_;
    cv_.notify_all();
  }
  bool WaitFor(int n, std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, d, [&] { return n_ >= n; });
  }
  int count() {
    std::lock_guard<std::mutex> l(mu_);
    return n_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

void Write(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::trunc) << s;
}

TEST(FileWatcherTest, SeesEditsAndSymlinkSwaps) {
  fs::path dir = fs::temp_directory_path() / ("sluice-watch-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "v1");
  fs::create_directories(dir / "v2");
  Write(dir / "v1" / "config.yaml", "a: 1\n");
  Write(dir / "v2" / "config.yaml", "a: 2\n");
  fs::create_directory_symlink("v1", dir / "..data");
  fs::create_symlink("..data/config.yaml", dir / "config.yaml");
  Counter c;
  // Long poll interval: only inotify can make this fast.
  FileWatcher w({(dir / "config.yaml").string()}, [&] { c.Hit(); }, std::chrono::milliseconds(60000));
  // Kubernetes-style atomic swap of the ..data symlink.
  fs::create_directory_symlink("v2", dir / "..data_tmp");
  fs::rename(dir / "..data_tmp", dir / "..data");
  ASSERT_TRUE(c.WaitFor(1, std::chrono::seconds(5)));
  // A same-content rewrite is not a change.
  Write(dir / "v2" / "config.yaml", "a: 2\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(c.count(), 1);
  w.Stop();
  fs::remove_all(dir);
}

TEST(FileWatcherTest, PollFallbackFindsChanges) {
  fs::path dir = fs::temp_directory_path() / ("sluice-poll-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  Write(dir / "a.yaml", "x");
  Counter c;
  FileWatcher w({dir.string()}, [&] { c.Hit(); }, std::chrono::milliseconds(100));
  Write(dir / "b.yml", "y");  // a new file in a watched directory
  ASSERT_TRUE(c.WaitFor(1, std::chrono::seconds(5)));
  w.Stop();
  fs::remove_all(dir);
}

// A program reads its files, then starts the watcher: a change in between must not be lost
// (it was, before `baseline`: the watcher took the new content as its starting point).
TEST(FileWatcherTest, ReportsAChangeMadeBeforeItStarted) {
  fs::path dir = fs::temp_directory_path() / ("sluice-baseline-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  Write(dir / "a.yaml", "version: 1\n");
  std::vector<std::string> paths = {(dir / "a.yaml").string()};
  std::string baseline = FileWatcher::FingerprintOf(paths);  // "read the files" here
  Write(dir / "a.yaml", "version: 2\n");                     // changed while starting up
  Counter c;
  FileWatcher w(paths, [&] { c.Hit(); }, std::chrono::milliseconds(100), baseline);
  ASSERT_TRUE(c.WaitFor(1, std::chrono::seconds(5)));
  // Without a baseline the content at construction is the starting point: no report.
  Counter quiet;
  FileWatcher w2(paths, [&] { quiet.Hit(); }, std::chrono::milliseconds(100));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(quiet.count(), 0);
  w.Stop();
  w2.Stop();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sluice
