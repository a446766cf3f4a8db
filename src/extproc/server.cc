#include "extproc/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <mutex>
#include <random>

#include "common/log.h"
#include "common/strings.h"
#include "envoy/service/ext_proc/v3/external_processor.grpc.pb.h"
#include "extproc/processor.h"

namespace sluice::extproc {
namespace {

class ServerImpl;

// What a stream starts with: swapped whole on reload.
struct Snapshot {
  std::shared_ptr<const gateway::Runtime> runtime;
  std::shared_ptr<const config::LlmRequestCosts> costs;
  // Layout::kTwoFilter: the upstream filter's runtime (BuildPinnedRuntime), built with it.
  std::shared_ptr<const gateway::Runtime> pinned;
};

std::shared_ptr<const Snapshot> MakeSnapshot(Layout layout, std::shared_ptr<const gateway::Runtime> runtime,
                                             std::shared_ptr<const config::LlmRequestCosts> costs) {
  auto s = std::make_shared<Snapshot>();
  if (layout == Layout::kTwoFilter && runtime) {
    auto pinned = BuildPinnedRuntime(runtime->config);
    if (pinned.ok()) s->pinned = std::move(*pinned);
    else log::Error("extproc: cannot build the upstream filter's runtime: ", pinned.status().message());
  }
  s->runtime = std::move(runtime);
  s->costs = std::move(costs);
  return s;
}

grpc::Status ToGrpc(const absl::Status& st) {
  // absl::StatusCode mirrors the gRPC codes one to one.
  return grpc::Status(static_cast<grpc::StatusCode>(st.code()), std::string(ToStd(st.message())));
}

// One ext_proc stream. Ping-pong: a read, its replies (one, or for FULL_DUPLEX_STREAMED none
// or several, written one after the other), the next read; so reads and writes never overlap and the reactions never run concurrently (gRPC may run OnCancel at any
// time, which touches nothing). gRPC's callback API owns the reactor's lifetime: it must
// stay alive until OnDone, which deletes it.
//
// The method is registered raw (ByteBuffer in and out) so that a message that does not parse
// fails the stream with INVALID_ARGUMENT; with generated types gRPC reports it exactly like
// Envoy's half-close (a failed read), and the garbage would end as a clean OK.
class ProcessReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  ProcessReactor(ServerImpl& server, std::shared_ptr<const Snapshot> snapshot,
                 gateway::RandomFn random, const ProcessorLimits& limits, Layout layout);

  void OnReadDone(bool ok) override {
    if (!ok) {
      // Envoy half-closed or reset the stream (it usually resets: CANCELLED). A normal end.
      Finish(grpc::Status::OK);
      return;
    }
    ++messages_;
    request_.Clear();
    grpc::Status parsed = grpc::SerializationTraits<pb::ProcessingRequest>::Deserialize(&in_, &request_);
    if (!parsed.ok()) {
      log::Warn("extproc: stream failed at message ", messages_, ": not a ProcessingRequest");
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "message does not parse as envoy.service.ext_proc.v3.ProcessingRequest"));
      return;
    }
    absl::Status st = processor_.Process(std::move(request_), &replies_);  // may take the body's bytes
    if (!st.ok()) {
      log::Warn("extproc: stream failed at message ", messages_, ": ", st.ToString());
      Finish(ToGrpc(st));
      return;
    }
    next_reply_ = 0;
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the stream went away"));
      return;
    }
    WriteNext();
  }

  void OnDone() override;

 private:
  void NextRead() {
    in_.Clear();
    StartRead(&in_);
  }

  // Writes the next reply of the current message, one write in flight at a time; reads the
  // next message after the last one (or at once when no reply is due).
  void WriteNext() {
    if (next_reply_ == replies_.size()) {
      NextRead();
      return;
    }
    out_.Clear();
    bool own = false;
    grpc::Status serialized =
        grpc::SerializationTraits<pb::ProcessingResponse>::Serialize(replies_[next_reply_++], &out_, &own);
    if (!serialized.ok()) {
      Finish(grpc::Status(grpc::StatusCode::INTERNAL, "cannot serialise the reply"));
      return;
    }
    if (next_reply_ == replies_.size() && processor_.finished()) {
      StartWriteAndFinish(&out_, grpc::WriteOptions(), grpc::Status::OK);
      return;
    }
    StartWrite(&out_);
  }

  ServerImpl& server_;
  StreamProcessor processor_;
  grpc::ByteBuffer in_, out_;
  pb::ProcessingRequest request_;
  Replies replies_;
  size_t next_reply_ = 0;
  int messages_ = 0;
};

class ExternalProcessorService final
    : public pb::ExternalProcessor::WithRawCallbackMethod_Process<pb::ExternalProcessor::Service> {
 public:
  explicit ExternalProcessorService(ServerImpl& server) : server_(server) {}
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Process(
      grpc::CallbackServerContext* context) override;

 private:
  ServerImpl& server_;
};

uint64_t ThreadRandom() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

absl::Status CheckAddress(const std::string& a) {
  if (a.rfind("unix:", 0) == 0) {
    if (a.size() == 5) return absl::InvalidArgumentError(StrCat("listen address ", a, ": empty socket path"));
    return absl::OkStatus();
  }
  size_t colon = a.rfind(':');
  std::string_view port = colon == std::string::npos ? std::string_view() : std::string_view(a).substr(colon + 1);
  int64_t n = -1;
  if (colon == std::string::npos || colon == 0 || !ParseInt(port, &n) || n < 0 || n > 65535) {
    return absl::InvalidArgumentError(
        StrCat("listen address ", a, ": expected host:port (e.g. 127.0.0.1:1063) or unix:PATH"));
  }
  return absl::OkStatus();
}

// The filesystem path of a "unix:" address (gRPC accepts unix:PATH and unix:///ABS).
std::string SocketPath(const std::string& a) {
  std::string p = a.substr(5);
  if (p.rfind("//", 0) == 0) p = p.substr(2);
  return p;
}

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerOptions& o, std::shared_ptr<const gateway::Runtime> runtime, Layout layout)
      : options_(o),
        layout_(layout),
        snapshot_(MakeSnapshot(layout, std::move(runtime), o.costs)),
        service_(*this) {
    limits_.max_request_body_bytes = o.max_request_body_bytes;
    limits_.max_error_body_bytes = o.max_error_body_bytes;
    limits_.full_duplex_response_override = o.full_duplex_response_override;
    random_ = o.random ? o.random : gateway::RandomFn(&ThreadRandom);
  }

  ~ServerImpl() override {
    if (server_ && !shut_down_) Shutdown(std::chrono::milliseconds(0));
  }

  absl::Status Init() {
    if (options_.listen.empty()) return absl::InvalidArgumentError("no listen address");
    for (const auto& a : options_.listen) {
      absl::Status st = CheckAddress(a);
      if (!st.ok()) return st;
    }
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    // gRPC sets SO_REUSEPORT by default, which would let a second server share a busy port
    // silently; a clear "address in use" is better.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.SetMaxReceiveMessageSize(
        static_cast<int>(std::min<size_t>(options_.max_grpc_message_bytes, INT_MAX)));
    builder.SetMaxSendMessageSize(-1);
    std::vector<int> ports(options_.listen.size(), 0);
    for (size_t i = 0; i < options_.listen.size(); ++i) {
      const std::string& a = options_.listen[i];
      if (a.rfind("unix:", 0) == 0) {
        // Replace a stale socket left by a previous run; never delete anything else.
        std::string path = SocketPath(a);
        struct stat sb;
        if (lstat(path.c_str(), &sb) == 0 && S_ISSOCK(sb.st_mode)) unlink(path.c_str());
      }
      builder.AddListeningPort(a, grpc::InsecureServerCredentials(), &ports[i]);
    }
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    bool all_bound = server_ != nullptr;
    for (size_t i = 0; i < ports.size() && all_bound; ++i) all_bound = ports[i] != 0;
    if (!all_bound) {
      if (server_) server_->Shutdown();
      server_.reset();
      std::string list;
      for (const auto& a : options_.listen) StrAppend(&list, list.empty() ? "" : ", ", a);
      return absl::UnavailableError(StrCat("cannot listen on ", list,
                                           " (address in use, bad host, or no permission)"));
    }
    for (size_t i = 0; i < options_.listen.size(); ++i) {
      const std::string& a = options_.listen[i];
      if (a.rfind("unix:", 0) == 0) {
        addresses_.push_back(a);
      } else {
        addresses_.push_back(StrCat(a.substr(0, a.rfind(':')), ":", ports[i]));
      }
    }
    SetServing(true);
    return absl::OkStatus();
  }

  const std::vector<std::string>& addresses() const override { return addresses_; }

  void Reload(std::shared_ptr<const gateway::Runtime> runtime,
              std::shared_ptr<const config::LlmRequestCosts> costs) override {
    snapshot_.store(MakeSnapshot(layout_, std::move(runtime), std::move(costs)));
  }

  void Shutdown(std::chrono::milliseconds grace) override {
    {
      std::lock_guard<std::mutex> lock(shutdown_mu_);
      if (shut_down_) return;
      shut_down_ = true;
    }
    if (!server_) return;
    SetServing(false);
    // Stops accepting, waits for open streams up to the deadline, then cancels them.
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    server_->Wait();
    for (const auto& a : addresses_) {
      if (a.rfind("unix:", 0) == 0) unlink(SocketPath(a).c_str());
    }
  }

  int active_streams() const override { return active_.load(); }

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* NewStream() {
    active_.fetch_add(1);
    return new ProcessReactor(*this, snapshot_.load(), random_, limits_, layout_);
  }
  void StreamDone() { active_.fetch_sub(1); }

 private:
  void SetServing(bool serving) {
    grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
    if (health == nullptr) return;
    health->SetServingStatus(serving);  // every service, "" included
    for (const char* name : kHealthServices) health->SetServingStatus(name, serving);
  }

  ServerOptions options_;
  Layout layout_;
  ProcessorLimits limits_;
  gateway::RandomFn random_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  ExternalProcessorService service_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> addresses_;
  std::atomic<int> active_{0};
  std::mutex shutdown_mu_;
  bool shut_down_ = false;
};

ProcessReactor::ProcessReactor(ServerImpl& server, std::shared_ptr<const Snapshot> snapshot,
                               gateway::RandomFn random, const ProcessorLimits& limits, Layout layout)
    : server_(server),
      processor_(snapshot->runtime, std::move(random), limits, snapshot->costs, layout, snapshot->pinned) {
  StartRead(&in_);
}

void ProcessReactor::OnDone() {
  server_.StreamDone();
  delete this;  // the callback API's contract: nothing touches the reactor after OnDone
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ExternalProcessorService::Process(grpc::CallbackServerContext* /*context*/) {
  return server_.NewStream();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options,
                                                      std::shared_ptr<const gateway::Runtime> runtime) {
  return StartServer(options, std::move(runtime), Layout::kRouter);
}

absl::StatusOr<std::unique_ptr<Server>> StartServer(const ServerOptions& options,
                                                    std::shared_ptr<const gateway::Runtime> runtime,
                                                    Layout layout) {
  auto s = std::make_unique<ServerImpl>(options, std::move(runtime), layout);
  absl::Status st = s->Init();
  if (!st.ok()) return st;
  return std::unique_ptr<Server>(std::move(s));
}

}  // namespace sluice::extproc
