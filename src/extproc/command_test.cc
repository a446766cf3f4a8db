// RunExtprocCommand as a process (extproc_command_harness): option errors, serving over a
// Unix socket, SIGHUP reload, SIGTERM shutdown.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "extproc/envoy_sim.h"
#include "crypto/crypto.h"
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
    Child c({"--config", "/nonexistent/filterapi.yaml", "--listen", "unix:" + TempPath(".sock")});
    EXPECT_EQ(c.Wait(), 1);
    EXPECT_NE(c.err().find("cannot read"), std::string::npos) << c.err();
  }
  {
    Child c({"--config", "filterapi.yaml", "-f", "x.yaml"});
    EXPECT_EQ(c.Wait(), 2);
    EXPECT_NE(c.err().find("not both"), std::string::npos) << c.err();
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

// Replaces `path` the way config management does: write a temporary file, rename it over.
void ReplaceAtomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  WriteFile(tmp, text);
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

template <typename F>
bool Eventually(F f, std::chrono::milliseconds limit = std::chrono::milliseconds(30000)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return f();
}

std::string Updated(const std::string& from, const std::string& to) {
  std::string s = test::kResources;
  s.replace(s.find(from), from.size(), to);
  return s;
}

TEST(ExtprocCommandTest, ReloadsWhenTheFileChanges) {
  std::string resources = TempPath(".yaml");
  std::string socket = TempPath(".sock");
  WriteFile(resources, test::kResources);
  Child c({"-f", resources, "--listen", "unix:" + socket});
  ASSERT_TRUE(c.WaitForOutput("sluice extproc listening on unix:" + socket)) << (c.Wait(), c.err());
  std::string address = "unix:" + socket;
  EXPECT_TRUE(Forwarded(address, "gpt-test"));

  ReplaceAtomically(resources, Updated("value: gpt-test}", "value: gpt-watched}"));
  EXPECT_TRUE(Eventually([&] { return Forwarded(address, "gpt-watched"); })) << "no SIGHUP needed";
  EXPECT_FALSE(Forwarded(address, "gpt-test"));

  // Invalid: rejected, the previous version keeps serving.
  ReplaceAtomically(resources, "kind: [unclosed");
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_TRUE(Forwarded(address, "gpt-watched"));

  // In-place writes are seen too.
  WriteFile(resources, test::kResources);
  EXPECT_TRUE(Eventually([&] { return Forwarded(address, "gpt-test"); }));

  c.Signal(SIGTERM);
  EXPECT_EQ(c.Wait(), 0) << c.err();
  EXPECT_NE(c.err().find("reload rejected"), std::string::npos) << c.err();
  unlink(resources.c_str());
}

// One full request (request and answer path). Which version served it shows in where it went:
// version A sends gpt-test to OpenAI, version B to Anthropic; every observable must agree.
struct Observed {
  bool ok = false;
  char version = '?';
  std::string problem;
};

Observed RunOne(t::EnvoySim& envoy) {
  std::string body = R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})";
  const std::string openai_answer =
      R"({"id":"c","object":"chat.completion","created":1,"model":"gpt-test","choices":[{"index":0,"message":{"role":"assistant","content":"a"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})";
  const std::string anthropic_answer =
      R"({"id":"msg","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"b"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":4}})";
  t::Result r = envoy.Run(t::Request("POST", "/v1/chat/completions", body),
                          [&](const t::HttpMessage& up) -> std::optional<t::HttpMessage> {
                            bool anthropic = t::Get(up.headers, ":authority") == "api.anthropic.test";
                            return t::Response(200, "application/json", anthropic ? anthropic_answer : openai_answer);
                          });
  Observed o;
  if (!r.status.ok() || !r.forwarded || !r.answered || r.local_reply || !r.violations.empty()) {
    o.problem = t::Describe(r);
    return o;
  }
  auto authority = t::Get(r.upstream_request.headers, ":authority");
  auto path = t::Get(r.upstream_request.headers, ":path");
  const auto& ns = r.metadata.fields();
  std::string backend;
  if (auto it = ns.find("io.envoy.ai_gateway"); it != ns.end()) {
    auto f = it->second.struct_value().fields().find("backend_name");
    if (f != it->second.struct_value().fields().end()) backend = f->second.string_value();
  }
  std::string client = r.client_response.Body();
  bool a = authority == "api.openai.test" && path == "/v1/chat/completions" && backend == "default/openai" &&
           client == openai_answer;
  bool b = authority == "api.anthropic.test" && path == "/v1/messages" && backend == "default/claude" &&
           client.find("\"object\":\"chat.completion\"") != std::string::npos;
  if (!a && !b) {
    o.problem = "mixed versions: " + authority.value_or("?") + " " + path.value_or("?") + " " + backend + " " + client;
    return o;
  }
  o.ok = true;
  o.version = a ? 'A' : 'B';
  return o;
}

TEST(ExtprocCommandTest, ReloadUnderLoadNeverFailsAndNeverMixesVersions) {
  std::string resources = TempPath(".yaml");
  std::string socket = TempPath(".sock");
  const std::string version_a = test::kResources;
  const std::string version_b = Updated("value: gpt-test}]}]\n      backendRefs: [{name: openai}]",
                                        "value: gpt-test}]}]\n      backendRefs: [{name: claude}]");
  ASSERT_NE(version_a, version_b);
  WriteFile(resources, version_a);
  Child c({"-f", resources, "--listen", "unix:" + socket});
  ASSERT_TRUE(c.WaitForOutput("sluice extproc listening on unix:" + socket)) << (c.Wait(), c.err());
  auto channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> failures;
  std::atomic<int> total{0}, seen_a{0}, seen_b{0};
  std::atomic<char> last{'?'};
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([&] {
      t::EnvoySim envoy(channel, t::FilterConfig());
      while (!stop.load()) {
        Observed o = RunOne(envoy);
        ++total;
        if (!o.ok) {
          std::lock_guard<std::mutex> lock(mu);
          failures.push_back(o.problem);
          continue;
        }
        (o.version == 'A' ? seen_a : seen_b)++;
        last = o.version;
      }
    });
  }
  auto wait_for = [&](char v) {
    return Eventually([&] {
      int before = total.load();
      // A version counts as live once requests that started after the check see it.
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      return last.load() == v && total.load() > before;
    });
  };
  EXPECT_TRUE(wait_for('A'));
  ReplaceAtomically(resources, version_b);
  EXPECT_TRUE(wait_for('B'));
  int b_before = seen_b.load();
  ReplaceAtomically(resources, "apiVersion: v1\nkind: [unclosed");
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  int a_mid = seen_a.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(seen_a.load(), a_mid) << "the invalid version changed nothing: B keeps serving";
  EXPECT_GT(seen_b.load(), b_before);
  ReplaceAtomically(resources, version_a);
  EXPECT_TRUE(wait_for('A'));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop = true;
  for (auto& t : clients) t.join();

  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << (failures.empty() ? "" : failures[0]);
  EXPECT_GT(seen_a.load(), 0);
  EXPECT_GT(seen_b.load(), 0);
  EXPECT_GT(total.load(), 20);
  c.Signal(SIGTERM);
  EXPECT_EQ(c.Wait(), 0) << c.err();
  EXPECT_NE(c.err().find("reload rejected"), std::string::npos) << c.err();
  unlink(resources.c_str());
}

// Envoy AI Gateway's filterapi config: the backend named by x-ai-eg-backend serves, with its
// override, auth and mutations; costs shape the usage metadata; the file is watched too.
constexpr const char* kFilterConfig = R"(version: dev
uuid: test-1
llmRequestCosts:
  - {metadataKey: input_cost, routeName: default/chat, type: InputToken}
  - {metadataKey: total_cost, routeName: default/chat, type: TotalToken}
models:
  - {Name: gpt-test, OwnedBy: openai, CreatedAt: "2024-01-01T00:00:00Z"}
backends:
  - name: default/openai/route/chat/rule/0/ref/0
    schema: {name: OpenAI, prefix: v1}
    auth: {apiKey: {key: sk-filterapi}}
    httpHeaderMutation: {set: [{name: x-tenant, value: blue}]}
  - name: default/openai/route/chat/rule/1/ref/0
    modelNameOverride: gpt-real
    schema: {name: OpenAI}
    auth: {apiKey: {key: sk-other}}
)";

// --config-version: a filterapi config written for another version is refused (with both
// versions named); the matching version serves.
TEST(ExtprocCommandTest, ConfigVersionMustMatchWhenAsked) {
  std::string file = TempPath(".yaml");
  std::string socket = TempPath(".sock");
  WriteFile(file, kFilterConfig);  // version: dev
  Child refused({"--config", file, "--config-version", "v1.1.0", "--listen", "unix:" + socket});
  EXPECT_NE(refused.Wait(), 0);
  EXPECT_NE(refused.err().find("config version mismatch: \"dev\", expected \"v1.1.0\""), std::string::npos)
      << refused.err();
  Child served({"--config", file, "--config-version", "dev", "--listen", "unix:" + socket});
  EXPECT_TRUE(served.WaitForOutput("sluice extproc listening on unix:" + socket)) << (served.Wait(), served.err());
}

TEST(ExtprocCommandTest, ServesEnvoyAIGatewayFilterConfig) {
  std::string file = TempPath(".yaml");
  std::string socket = TempPath(".sock");
  WriteFile(file, kFilterConfig);
  Child c({"--config", file, "--listen", "unix:" + socket});
  ASSERT_TRUE(c.WaitForOutput("sluice extproc listening on unix:" + socket)) << (c.Wait(), c.err());
  auto channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
  t::EnvoySim envoy(channel, t::FilterConfig());
  std::string body = R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})";
  std::string answer =
      R"({"id":"c","object":"chat.completion","created":1,"model":"gpt-test","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}})";
  auto run = [&](const std::string& backend) {
    return envoy.Run(t::Request("POST", "/v1/chat/completions", body, {{"x-ai-eg-backend", backend}}),
                     [&](const t::HttpMessage&) -> std::optional<t::HttpMessage> {
                       return t::Response(200, "application/json", answer);
                     });
  };
  t::Result r = run("default/openai/route/chat/rule/0/ref/0");
  ASSERT_TRUE(r.forwarded) << t::Describe(r);
  EXPECT_EQ(t::Get(r.upstream_request.headers, "authorization"), "Bearer sk-filterapi");
  EXPECT_EQ(t::Get(r.upstream_request.headers, "x-tenant"), "blue");
  const auto& md = r.metadata.fields().at("io.envoy.ai_gateway").struct_value().fields();
  EXPECT_EQ(md.at("backend_name").string_value(), "default/openai/route/chat/rule/0/ref/0");
  EXPECT_EQ(md.at("ai_service_backend_name").string_value(), "default/openai");
  EXPECT_EQ(md.at("route_name").string_value(), "default/chat");
  EXPECT_EQ(md.at("input_cost").number_value(), 5);
  EXPECT_EQ(md.at("total_cost").number_value(), 11);
  EXPECT_EQ(md.count("llm_input_token"), 0u) << "configured costs replace the standard keys";

  t::Result o = run("default/openai/route/chat/rule/1/ref/0");
  ASSERT_TRUE(o.forwarded) << t::Describe(o);
  EXPECT_EQ(t::Get(o.upstream_request.headers, "authorization"), "Bearer sk-other");
  EXPECT_NE(o.upstream_request.Body().find("\"gpt-real\""), std::string::npos) << o.upstream_request.Body();

  t::Result none = envoy.Run(t::Request("POST", "/v1/chat/completions", body), nullptr);
  EXPECT_FALSE(none.forwarded) << "no backend header: nothing to route to";
  EXPECT_EQ(none.local_status, 404);

  t::Result models = envoy.Run(t::Request("GET", "/v1/models", ""), nullptr);
  EXPECT_NE(models.local_body.find("\"gpt-test\""), std::string::npos) << models.local_body;

  // Watched: a new version with another key is picked up.
  std::string next = kFilterConfig;
  next.replace(next.find("sk-filterapi"), 12, "sk-rotated");
  ReplaceAtomically(file, next);
  EXPECT_TRUE(Eventually([&] {
    return t::Get(run("default/openai/route/chat/rule/0/ref/0").upstream_request.headers, "authorization") ==
           "Bearer sk-rotated";
  }));
  c.Signal(SIGTERM);
  EXPECT_EQ(c.Wait(), 0) << c.err();
  unlink(file.c_str());
}

// Sets environment variables (inherited by a Child) for one test; restores them after.
struct ScopedEnv {
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
  void Set(const char* k, const char* v) {
    const char* old = getenv(k);
    saved.emplace_back(k, old ? std::optional<std::string>(old) : std::nullopt);
    if (v) setenv(k, v, 1);
    else unsetenv(k);
  }
  ~ScopedEnv() {
    for (auto it = saved.rbegin(); it != saved.rend(); ++it) {
      if (it->second) setenv(it->first.c_str(), it->second->c_str(), 1);
      else unsetenv(it->first.c_str());
    }
  }
};

// A loopback HTTP server that answers every request with one JSON body (a credential
// endpoint for the child to call) and keeps the requests' text.
class JsonAnswerServer {
 public:
  explicit JsonAnswerServer(std::string body) : body_(std::move(body)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), len), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~JsonAnswerServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }

 private:
  void Serve() {
    for (;;) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard<std::mutex> l(mu_);
        requests_.push_back(req);
      }
      std::string resp = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmetadata-flavor: Google\r\n"
                         "content-length: " + std::to_string(body_.size()) + "\r\nconnection: close\r\n\r\n" + body_;
      (void)!write(c, resp.data(), resp.size());
      close(c);
    }
  }
  std::string body_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> requests_;
};

// Envoy AI Gateway's filter config for an AWS backend without credentialFileLiteral: the ext_proc
// uses the AWS SDK default chain (here the shared credentials file named by
// AWS_SHARED_CREDENTIALS_FILE, as a pod with a mounted file would have), and signs with it.
TEST(ExtprocCommandTest, AwsBackendWithoutCredentialsUsesTheDefaultChain) {
  std::string creds = TempPath(".ini");
  WriteFile(creds, "[default]\naws_access_key_id = AKIDFROMCHAIN\naws_secret_access_key = chain-secret\n"
                   "aws_session_token = chain-session\n");
  std::string file = TempPath(".yaml");
  std::string socket = TempPath(".sock");
  WriteFile(file, R"(version: dev
backends:
  - name: default/bedrock/route/chat/rule/0/ref/0
    schema: {name: AWSBedrock}
    auth: {aws: {region: eu-west-1}}
)");
  // The child inherits this environment: only the file is a source (no keys, no metadata).
  ScopedEnv env;
  env.Set("AWS_SHARED_CREDENTIALS_FILE", creds.c_str());
  env.Set("AWS_EC2_METADATA_DISABLED", "true");
  for (const char* k : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                        "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"})
    env.Set(k, nullptr);
  Child c({"--config", file, "--listen", "unix:" + socket});
  ASSERT_TRUE(c.WaitForOutput("sluice extproc listening on unix:" + socket)) << (c.Wait(), c.err());
  t::EnvoySim envoy(grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()), t::FilterConfig());
  t::Result r = envoy.Run(
      t::Request("POST", "/v1/chat/completions",
                 R"({"model":"anthropic.claude-3-haiku-20240307-v1:0","messages":[{"role":"user","content":"hi"}]})",
                 {{"x-ai-eg-backend", "default/bedrock/route/chat/rule/0/ref/0"}}),
      nullptr);
  ASSERT_TRUE(r.forwarded) << t::Describe(r) << c.err();
  auto auth = t::Get(r.upstream_request.headers, "authorization");
  ASSERT_TRUE(auth.has_value());
  EXPECT_EQ(auth->rfind("AWS4-HMAC-SHA256 Credential=AKIDFROMCHAIN/", 0), 0u) << *auth;
  EXPECT_NE(auth->find("/eu-west-1/bedrock/aws4_request"), std::string::npos) << *auth;
  EXPECT_EQ(t::Get(r.upstream_request.headers, "x-amz-security-token"), "chain-session");
  c.Signal(SIGTERM);
  EXPECT_EQ(c.Wait(), 0) << c.err();
  EXPECT_EQ(c.err().find("chain-secret"), std::string::npos) << "a secret reached the log";
  unlink(file.c_str());
  unlink(creds.c_str());
}

// Envoy AI Gateway's filter config for a GCP backend without an access token: the ext_proc uses
// Application Default Credentials, here the metadata server (GKE Workload Identity), and sends
// its token as the bearer on the Vertex path it prefixes with the project and region.
TEST(ExtprocCommandTest, GcpBackendWithoutTokenUsesApplicationDefaultCredentials) {
  JsonAnswerServer metadata(R"({"access_token":"ya29.from-metadata","expires_in":3599,"token_type":"Bearer"})");
  std::string file = TempPath(".yaml");
  std::string socket = TempPath(".sock");
  WriteFile(file, R"(version: dev
backends:
  - name: default/vertex/route/chat/rule/0/ref/0
    schema: {name: GCPVertexAI}
    auth: {gcp: {region: europe-west4, projectName: my-proj}}
)");
  ScopedEnv env;
  std::string host = "127.0.0.1:" + std::to_string(metadata.port());
  env.Set("GCE_METADATA_HOST", host.c_str());
  env.Set("HOME", "/nonexistent-home");
  for (const char* k : {"GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "NO_GCE_CHECK"}) env.Set(k, nullptr);
  Child c({"--config", file, "--listen", "unix:" + socket});
  ASSERT_TRUE(c.WaitForOutput("sluice extproc listening on unix:" + socket)) << (c.Wait(), c.err());
  t::EnvoySim envoy(grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()), t::FilterConfig());
  t::Result r = envoy.Run(
      t::Request("POST", "/v1/chat/completions", R"({"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]})",
                 {{"x-ai-eg-backend", "default/vertex/route/chat/rule/0/ref/0"}}),
      nullptr);
  ASSERT_TRUE(r.forwarded) << t::Describe(r) << c.err();
  EXPECT_EQ(t::Get(r.upstream_request.headers, "authorization"), "Bearer ya29.from-metadata");
  EXPECT_EQ(t::Get(r.upstream_request.headers, ":path"),
            "/v1/projects/my-proj/locations/europe-west4/publishers/google/models/gemini-2.5-flash:generateContent");
  auto seen = metadata.requests();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen[0].rfind("GET /computeMetadata/v1/instance/service-accounts/default/token?scopes=", 0), 0u) << seen[0];
  EXPECT_NE(seen[0].find("metadata-flavor: Google\r\n"), std::string::npos) << seen[0];
  c.Signal(SIGTERM);
  EXPECT_EQ(c.Wait(), 0) << c.err();
  EXPECT_EQ(c.err().find("ya29.from-metadata"), std::string::npos) << "a token reached the log";
  unlink(file.c_str());
}

TEST(ExtprocCommandTest, ResourceFilesEmitTheirRoutesLlmRequestCosts) {
  // An AIGatewayRoute's spec.llmRequestCosts become dynamic metadata per answer, as with Envoy
  // AI Gateway (what Envoy Gateway's token rate limits and QuotaPolicy read); route_name too.
  std::string resources = TempPath(".yaml");
  std::string socket = TempPath(".sock");
  std::string yaml = test::kResources;
  const std::string head = "metadata: {name: route}\nspec:\n";
  yaml.replace(yaml.find(head), head.size(),
               head + "  llmRequestCosts:\n"
               "    - {metadataKey: in_tokens, type: InputToken}\n"
               "    - {metadataKey: my_total, type: TotalToken}\n"
               "    - {metadataKey: quota_cost, type: CEL, cel: 'input_tokens + output_tokens'}\n"
               "    - {metadataKey: priced, type: CEL, cel: \"model == 'gpt-test' ? input_tokens * 3u + output_tokens : uint(0)\"}\n"
               "    - {metadataKey: underflow, type: CEL, cel: 'input_tokens - output_tokens'}\n");
  WriteFile(resources, yaml);
  Child c({"-f", resources, "--listen", "unix:" + socket});
  ASSERT_TRUE(c.WaitForOutput("sluice extproc listening on unix:" + socket)) << (c.Wait(), c.err());
  auto channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
  t::EnvoySim envoy(channel, t::FilterConfig());
  std::string answer =
      R"({"id":"c","object":"chat.completion","created":1,"model":"gpt-test","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}})";
  t::Result r = envoy.Run(t::Request("POST", "/v1/chat/completions", R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})"),
                          [&](const t::HttpMessage&) -> std::optional<t::HttpMessage> {
                            return t::Response(200, "application/json", answer);
                          });
  ASSERT_TRUE(r.forwarded) << t::Describe(r);
  const auto& md = r.metadata.fields().at("io.envoy.ai_gateway").struct_value().fields();
  EXPECT_EQ(md.at("route_name").string_value(), "default/route");
  EXPECT_EQ(md.at("in_tokens").number_value(), 5);
  EXPECT_EQ(md.at("my_total").number_value(), 11);
  // CEL costs are evaluated on the answer's usage (`model` is the request's model); one that
  // fails on it (5 - 6 in uint) is left out and said in the log.
  EXPECT_EQ(md.at("quota_cost").number_value(), 11);
  EXPECT_EQ(md.at("priced").number_value(), 21);
  EXPECT_EQ(md.count("underflow"), 0u);
  EXPECT_EQ(md.count("llm_total_token"), 0u) << "configured costs replace the standard keys";
  c.Signal(SIGTERM);
  EXPECT_EQ(c.Wait(), 0) << c.err();
  EXPECT_NE(c.err().find("cost underflow not emitted: failed to evaluate CEL expression: unsigned integer overflow"),
            std::string::npos)
      << c.err();
  unlink(resources.c_str());
}

TEST(ExtprocCommandTest, ServesAndReloadsAFilterConfigBundle) {
  std::string dir = TempPath(".bundle");
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir + "/parts").c_str(), 0755), 0);
  auto write_bundle = [&](const std::string& text) {
    std::string a = text.substr(0, text.size() / 2), b = text.substr(text.size() / 2);
    ReplaceAtomically(dir + "/parts/000", a);
    ReplaceAtomically(dir + "/parts/001", b);
    ReplaceAtomically(dir + "/index.yaml",
                      "version: dev\nuuid: u\nchecksum: " + crypto::Sha256Hex(text) +
                          "\nparts:\n  - {name: \"000\", path: parts/000, sizeBytes: " + std::to_string(a.size()) +
                          "}\n  - {name: \"001\", path: parts/001, sizeBytes: " + std::to_string(b.size()) + "}\n");
  };
  write_bundle(kFilterConfig);
  std::string socket = TempPath(".sock");
  Child c({"--config", dir, "--listen", "unix:" + socket});
  ASSERT_TRUE(c.WaitForOutput("sluice extproc listening on unix:" + socket)) << (c.Wait(), c.err());
  t::EnvoySim envoy(grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()), t::FilterConfig());
  std::string body = R"({"model":"gpt-test","messages":[{"role":"user","content":"hi"}]})";
  auto key = [&] {
    t::Result r = envoy.Run(t::Request("POST", "/v1/chat/completions", body,
                                       {{"x-ai-eg-backend", "default/openai/route/chat/rule/0/ref/0"}}),
                            nullptr);
    return t::Get(r.upstream_request.headers, "authorization").value_or("<none>");
  };
  EXPECT_EQ(key(), "Bearer sk-filterapi");
  // A part that no longer matches the checksum: rejected, the old version serves.
  ReplaceAtomically(dir + "/parts/001", "garbage");
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(key(), "Bearer sk-filterapi");
  std::string next = kFilterConfig;
  next.replace(next.find("sk-filterapi"), 12, "sk-bundled2");
  write_bundle(next);
  EXPECT_TRUE(Eventually([&] { return key() == "Bearer sk-bundled2"; }));
  c.Signal(SIGTERM);
  EXPECT_EQ(c.Wait(), 0) << c.err();
  EXPECT_NE(c.err().find("index says"), std::string::npos) << "the part's size is checked: " << c.err();
  EXPECT_NE(c.err().find("reload rejected"), std::string::npos) << c.err();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace sluice::extproc
