// Test harness for RunExtprocCommand (extproc_command_test runs it as a child process): the
// subcommand's options, spelled as `sluice extproc` is expected to spell them.
//   extproc_command_harness [--listen ADDR]... [-f FILE]... [--config FILE]
//                           [--config-version V] [--log-level L]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "auth/token_source.h"
#include "extproc/extproc_command.h"
#include "standalone/token_client.h"

int main(int argc, char** argv) {
  // As `sluice extproc` does: credentials that are fetched (cloud tokens, the AWS default
  // chain) have a client to fetch them with.
  sluice::auth::TokenRefresher::Get().SetHttpClient(sluice::standalone::NewTokenHttpClient(""));
  sluice::extproc::ExtprocOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--listen") o.listen.push_back(value());
    else if (a == "-f") o.resource_files.push_back(value());
    else if (a == "--config") o.config_file = value();
    else if (a == "--config-version") o.config_version = value();
    else if (a == "--log-level") o.log_level = value();
    else if (a == "--shutdown-grace-ms") o.shutdown_grace_ms = std::stoi(value());
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  return sluice::extproc::RunExtprocCommand(o);
}
