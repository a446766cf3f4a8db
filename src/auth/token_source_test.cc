#include "auth/token_source.h"

#include <map>

#include "common/strings.h"
#include "gtest/gtest.h"

namespace sluice::auth {
namespace {

class FakeHttp : public HttpClient {
 public:
  absl::StatusOr<HttpResponse> Send(const HttpRequest& r) override {
    ++calls;
    last_url = std::string(r.url);
    last_body = std::string(r.body);
    if (fail) return absl::UnavailableError("connection refused");
    return HttpResponse{200, "ok"};
  }
  int calls = 0;
  bool fail = false;
  std::string last_url, last_body;
};

TEST(RefreshingTokenTest, RefreshesAheadOfExpiryAndBacksOff) {
  FakeHttp http;
  int minted = 0;
  RefreshingToken t("test", [&](HttpClient& h, int64_t now) -> absl::StatusOr<Token> {
    auto r = h.PostForm("https://issuer/token", "x");
    if (!r.ok()) return r.status();
    ++minted;
    return Token{"tok-" + std::to_string(minted), now + 3600};
  });
  EXPECT_TRUE(t.Due(1000));
  EXPECT_FALSE(t.Current(1000).ok());
  t.Refresh(http, 1000);
  ASSERT_TRUE(t.Current(1000).ok());
  EXPECT_EQ(*t.Current(1000), "tok-1");
  EXPECT_FALSE(t.Due(1000 + 3600 - RefreshingToken::kRefreshAhead - 1));
  EXPECT_TRUE(t.Due(1000 + 3600 - RefreshingToken::kRefreshAhead));
  EXPECT_FALSE(t.Current(1000 + 3600).ok());  // expired tokens are never used
  // A failed refresh keeps the old token while valid, and backs off.
  http.fail = true;
  t.Refresh(http, 4400);
  EXPECT_EQ(*t.Current(4400), "tok-1");
  EXPECT_FALSE(t.Due(4400));
  EXPECT_TRUE(t.Due(4401));
  t.Refresh(http, 4401);
  EXPECT_FALSE(t.Due(4402));  // 2 s backoff
  EXPECT_TRUE(t.Due(4403));
  http.fail = false;
  t.Refresh(http, 4403);
  EXPECT_EQ(*t.Current(4403), "tok-2");
}

TEST(RefreshingTokenTest, ShortLivedTokensAreNotRefetchedInALoop) {
  // A 60-second token (some issuers, test issuers): refreshed half-way through its life, not
  // "300 s ahead", which would make it due again at every pass of the refresher.
  FakeHttp http;
  int minted = 0;
  RefreshingToken t("short", [&](HttpClient&, int64_t now) -> absl::StatusOr<Token> {
    ++minted;
    return Token{"tok", now + 60};
  });
  t.Refresh(http, 1000);
  EXPECT_FALSE(t.Due(1001));
  EXPECT_FALSE(t.Due(1029));
  EXPECT_TRUE(t.Due(1030));
  // A 2-second token is refreshed after a second; one already expired when it arrives is not
  // fetched again for 10 s.
  RefreshingToken brief("brief", [&](HttpClient&, int64_t now) -> absl::StatusOr<Token> { return Token{"tok", now + 2}; });
  brief.Refresh(http, 1000);
  EXPECT_FALSE(brief.Due(1000));
  EXPECT_TRUE(brief.Due(1001));
  RefreshingToken stale("stale", [&](HttpClient&, int64_t now) -> absl::StatusOr<Token> { return Token{"tok", now}; });
  stale.Refresh(http, 1000);
  EXPECT_FALSE(stale.Due(1001));
  EXPECT_FALSE(stale.Due(1009));
  EXPECT_TRUE(stale.Due(1010));
}

TEST(RefreshingTokenTest, OneFetchAtATime) {
  // While a fetch is in flight the token is not due and a second Refresh does nothing (the
  // first fetch at registration and the refresher's loop could otherwise both mint one).
  FakeHttp http;
  int minted = 0;
  RefreshingToken* self = nullptr;
  RefreshingToken t("once", [&](HttpClient& h, int64_t now) -> absl::StatusOr<Token> {
    ++minted;
    EXPECT_FALSE(self->Due(now));
    self->Refresh(h, now);  // re-entrant: must be a no-op, not a second mint
    return Token{"tok", now + 3600};
  });
  self = &t;
  t.Refresh(http, 1000);
  EXPECT_EQ(minted, 1);
  EXPECT_EQ(*t.Current(1000), "tok");
}

TEST(RefreshingTokenTest, ErrorsNeverCarryTheToken) {
  FakeHttp http;
  RefreshingToken t("gcp:sa@example", [](HttpClient&, int64_t) -> absl::StatusOr<Token> {
    return absl::UnauthenticatedError("invalid_grant");
  });
  t.Refresh(http, 10);
  auto c = t.Current(10);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(c.status().message()).find("invalid_grant"), std::string::npos);
}

TEST(FormEncodeTest, EncodesReservedCharacters) {
  EXPECT_EQ(FormEncode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
  EXPECT_EQ(FormEncode("AZaz09-_.~"), "AZaz09-_.~");
}

}  // namespace
}  // namespace sluice::auth
