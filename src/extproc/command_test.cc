// RunExtprocCommand as a process (extproc_command_harness): option errors, serving over a
// Unix socket, SIGHUP reload, SIGTERM shutdown.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "extproc/envoy_sim.h"
#include "extproc/extproc_test_util.h"
#include "gtest/gtest.h"

extern char** environ;

namespace sluice::extproc {
namespace {

namespace t = testing;

class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    int out[2], err[2];
    EXPECT_EQ(pipe(out), 0);
    EXPECT_EQ(pipe(err), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, err[0]);
    std::vector<char*> argv;
    std::string bin = SLUICE_EXTPROC_HARNESS;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    EXPECT_EQ(posix_spawn(&pid_, bin.c_str(), &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      Wait();
    }
    close(out_);
    close(err_);
  }

  // Reads stdout until `needle` shows up or the deadline passes.
  bool WaitForOutput(const std::string& needle, std::chrono::seconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (stdout_.find(needle) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char buf[4096];
      ssize_t n = read(out_, buf, sizeof(buf));
      if (n <= 0) return false;
      stdout_.append(buf, n);
    }
    return true;
  }

  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    char buf[4096];
    ssize_t n;
    while ((n = read(err_, buf, sizeof(buf))) > 0) stderr_.append(buf, n);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  void Signal(int sig) { kill(pid_, sig); }
  const std::string& err() const { return stderr_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
  bool exited_ = false;
  std::string stdout_, stderr_;
};

std::string TempPath(const std::string& suffix) {
  static int n = 0;
  return "/tmp/sluice-extproc-cmd-" + std::to_string(getpid()) + "-" + std::to_string(n++) + suffix;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

bool Forwarded(const std::string& address, const std::string& model) {
  t::EnvoySim envoy(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()), t::FilterConfig());
  std::string body = R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hi"}]})";
  return envoy.Run(t::Request("POST", "/v1/chat/completions", body), nullptr).forwarded;
}

TEST(ExtprocCommandTest, OptionErrors) {
  {
    Child c({});
    EXPECT_EQ(c.Wait(), 2);
    EXPECT_NE(c.err().find("needs resource files"), std::string::npos) << c.err();
  }
  {
    Child c({"--config", "filterapi.yaml"});
    EXPECT_EQ(c.Wait(), 2);
    EXPECT_NE(c.err().find("not supported yet"), std::string::npos) << c.err();
  }
  {
    Child c({"--log-level", "loud", "-f", "x.yaml"});
    EXPECT_EQ(c.Wait(), 2);
  }
  {
    std::string bad = TempPath(".yaml");
    WriteFile(bad, "apiVersion: aigateway.envoyproxy.io/v1beta1\nkind: AIGatewayRoute\nmetadata: {name: r}\nspec: {rules: [{backendRefs: [{name: missing}]}]}\n");
    Child c({"-f", bad, "--listen", "unix:" + TempPath(".sock")});
    EXPECT_EQ(c.Wait(), 1);
    EXPECT_NE(c.err().find("error"), std::string::npos) << c.err();
    unlink(bad.c_str());
  }
  {
    std::string good = TempPath(".yaml");
    WriteFile(good, test::kResources);
    Child c({"-f", good, "--listen", "not-an-address"});
    EXPECT_EQ(c.Wait(), 1);
    EXPECT_NE(c.err().find("host:port"), std::string::npos) << c.err();
    unlink(good.c_str());
  }
}

TEST(ExtprocCommandTest, ServesReloadsOnSighupAndStopsOnSigterm) {
  std::string resources = TempPath(".yaml");
  std::string socket = TempPath(".sock");
  WriteFile(resources, test::kResources);
  Child c({"-f", resources, "--listen", "unix:" + socket, "--shutdown-grace-ms", "2000"});
  ASSERT_TRUE(c.WaitForOutput("sluice extproc listening on unix:" + socket)) << (c.Wait(), c.err());
  std::string address = "unix:" + socket;
  EXPECT_TRUE(Forwarded(address, "gpt-test"));
  EXPECT_FALSE(Forwarded(address, "gpt-reloaded"));

  // Reload: gpt-reloaded now exists.
  std::string updated = test::kResources;
  updated.replace(updated.find("value: gpt-test}"), 16, "value: gpt-reloaded}");
  WriteFile(resources, updated);
  c.Signal(SIGHUP);
  bool reloaded = false;
  for (int i = 0; i < 100 && !reloaded; ++i) {
    reloaded = Forwarded(address, "gpt-reloaded");
    if (!reloaded) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(reloaded);

  // A broken file is rejected; the running config stays.
  WriteFile(resources, "kind: [unclosed");
  c.Signal(SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(Forwarded(address, "gpt-reloaded"));

  c.Signal(SIGTERM);
  EXPECT_EQ(c.Wait(), 0) << c.err();
  EXPECT_NE(c.err().find("reload rejected"), std::string::npos) << c.err();
  EXPECT_NE(access(socket.c_str(), F_OK), 0) << "socket removed";
  unlink(resources.c_str());
}

}  // namespace
}  // namespace sluice::extproc
