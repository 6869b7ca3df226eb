// The ECS simulator over loopback: signatures and tokens, every endpoint's shape, pagination,
// batch partial failures, the no-plug-in behaviour, reboot jobs, faults and the /_sim controls.
#include "sim/ecs/simulator.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <set>
#include <thread>

#include "sim/ecs/signature.h"
#include "tests/support/log_capture.h"
#include "tests/support/manual_clock.h"
#include "tests/support/test_tls.h"

namespace rotor::sim {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAk = "SIMTESTACCESSKEY0001";
constexpr const char* kSk = "sim-test-secret-key-0001";
constexpr const char* kProject = "0a1b2c3d4e5f40718293a4b5c6d7e8f9";

std::string percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

struct Reply {
  int status = 0;  // 0: no answer (reset, timeout)
  json body;
  std::string raw;
  httplib::Headers headers;
};

class EcsSimulatorTest : public ::testing::Test {
 protected:
  void start(EcsSimulatorOptions options = {}) {
    options.clock = &clock_;
    if (options.access_keys.empty()) {
      options.access_keys = {{kAk, kSk}};
    }
    options.project_id = kProject;
    sim_ = std::make_unique<EcsSimulator>(std::move(options));
    port_ = sim_->start();
    ASSERT_GT(port_, 0);
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_url_encode(false);
    client_->set_read_timeout(5, 0);
  }

  // Sends a request signed with `sk` (SDK-HMAC-SHA256 over content-type, host, x-project-id and
  // x-sdk-date, as the Huawei SDKs do).
  Reply call(const std::string& method, const std::string& target, const std::string& body = "",
             const std::string& sk = kSk) {
    const std::size_t q = target.find('?');
    const std::string path = target.substr(0, q);
    sig::Params query;
    if (q != std::string::npos) {
      std::string_view rest = std::string_view(target).substr(q + 1);
      while (!rest.empty()) {
        const std::size_t amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        const std::size_t eq = pair.find('=');
        query.emplace_back(percent_decode(pair.substr(0, eq)),
                           eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1)));
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
      }
    }
    sig::Headers headers{{"Host", "127.0.0.1:" + std::to_string(port_)},
                         {"X-Project-Id", kProject},
                         {"X-Sdk-Date", sig::format_sdk_date(clock_.now())}};
    std::vector<std::string> names{"host", "x-project-id", "x-sdk-date"};
    if (!body.empty()) {
      headers.emplace_back("Content-Type", "application/json;charset=UTF-8");
      names.emplace_back("content-type");
    }
    sig::ReceivedRequest signing{method, path, query, headers, body};
    headers.emplace_back("Authorization", sig::authorization_header(kAk, sk, signing, names));
    httplib::Headers wire;
    for (const auto& [name, value] : headers) {
      wire.emplace(name, value);
    }
    return send(method, target, std::move(wire), body);
  }

  Reply send(const std::string& method, const std::string& target, httplib::Headers headers,
             const std::string& body) {
    httplib::Request req;
    req.method = method;
    req.path = target;
    req.headers = std::move(headers);
    req.body = body;
    if (!body.empty() && !req.has_header("Content-Type")) {
      req.set_header("Content-Type", "application/json");
    }
    auto result = client_->send(req);
    Reply reply;
    if (!result) {
      return reply;
    }
    reply.status = result->status;
    reply.raw = result->body;
    reply.headers = result->headers;
    reply.body = json::parse(result->body, nullptr, false);
    return reply;
  }

  Reply control(const std::string& method, const std::string& target,
                const std::string& body = "") {
    return send(method, target, {}, body);
  }

  static std::string v1(const std::string& rest) {
    return std::string("/v1/") + kProject + "/cloudservers" + rest;
  }
  std::string add(const std::string& name, bool plugin = true, bool locked = false,
                  OsType os = OsType::Linux, std::vector<std::string> tags = {}) {
    ServerSpec spec;
    spec.name = name;
    spec.plugin = plugin;
    spec.locked = locked;
    spec.os_type = os;
    spec.tags = std::move(tags);
    return sim_->add_server(spec);
  }
  static std::string batch_body(const std::vector<std::string>& ids,
                                std::optional<std::string> password, bool dry_run) {
    json body = json::object();
    if (password)
      body["new_password"] = *password;
    body["servers"] = json::array();
    for (const auto& id : ids)
      body["servers"].push_back({{"id", id}});
    body["dry_run"] = dry_run;
    return body.dump();
  }

  testing::ManualClock clock_;
  std::unique_ptr<EcsSimulator> sim_;
  std::unique_ptr<httplib::Client> client_;
  int port_ = 0;
};

// A correctly signed request passes; a wrong secret, a stale date or no credential get the
// gateway's APIGW.0301 401 body with a request id.
TEST_F(EcsSimulatorTest, VerifiesSignatures) {
  start();
  EXPECT_EQ(call("GET", v1("/detail")).status, 200);

  const Reply wrong = call("GET", v1("/detail"), "", "not-the-secret");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body["error_code"], "APIGW.0301");
  EXPECT_NE(wrong.body["error_msg"].get<std::string>().find("verify aksk signature fail"),
            std::string::npos);
  EXPECT_FALSE(wrong.body["request_id"].get<std::string>().empty());
  EXPECT_TRUE(wrong.headers.count("X-Request-Id"));

  // A request signed 16 minutes ago is refused; 14 minutes is fine.
  auto stale = [&](std::chrono::minutes age) {
    const std::string date = sig::format_sdk_date(clock_.now() - age);
    sig::Headers h{{"Host", "127.0.0.1:" + std::to_string(port_)}, {"X-Sdk-Date", date}};
    const std::string path = v1("/detail");
    sig::ReceivedRequest r{"GET", path, {}, h, ""};
    httplib::Headers headers;
    for (const auto& [n, v] : h)
      headers.emplace(n, v);
    headers.emplace("Authorization",
                    sig::authorization_header(kAk, kSk, r, {"host", "x-sdk-date"}));
    return send("GET", v1("/detail"), headers, "");
  };
  const Reply recent = stale(14min);
  EXPECT_EQ(recent.status, 200) << recent.raw;
  const Reply expired = stale(16min);
  EXPECT_EQ(expired.status, 401);
  EXPECT_NE(expired.body["error_msg"].get<std::string>().find("signature expired"),
            std::string::npos);

  EXPECT_EQ(control("GET", v1("/detail")).status, 401);
  EXPECT_EQ(sim_->stats().auth_refused, 3U);
}

// Unknown paths get the gateway's 404 body.
TEST_F(EcsSimulatorTest, UnknownPathIsGateway404) {
  start();
  const Reply reply = call("GET", "/v2/nothing/here");
  EXPECT_EQ(reply.status, 404);
  EXPECT_EQ(reply.body["error_code"], "APIGW.0101");
}

// IAM password tokens: 201 with X-Subject-Token; the token works until it expires; a wrong
// password is a 401.
TEST_F(EcsSimulatorTest, IssuesAndChecksIamTokens) {
  EcsSimulatorOptions options;
  options.iam_users = {{"OTC-EU-DE-00000000001000000001", "rotor", "iam-password-1"}};
  start(options);
  auto token_body = [](const std::string& password) {
    return json{{"auth",
                 {{"identity",
                   {{"methods", {"password"}},
                    {"password",
                     {{"user",
                       {{"name", "rotor"},
                        {"password", password},
                        {"domain", {{"name", "OTC-EU-DE-00000000001000000001"}}}}}}}}},
                  {"scope", {{"project", {{"id", kProject}}}}}}}}
        .dump();
  };
  const Reply issued = control("POST", "/v3/auth/tokens", token_body("iam-password-1"));
  ASSERT_EQ(issued.status, 201);
  const std::string token = issued.headers.find("X-Subject-Token")->second;
  EXPECT_FALSE(token.empty());
  EXPECT_EQ(issued.body["token"]["project"]["id"], kProject);
  EXPECT_TRUE(issued.body["token"]["expires_at"].is_string());

  EXPECT_EQ(send("GET", v1("/detail"), {{"X-Auth-Token", token}}, "").status, 200);
  EXPECT_EQ(send("GET", v1("/detail"), {{"X-Auth-Token", "MIIforged"}}, "").status, 401);
  clock_.advance(25h);
  const Reply expired = send("GET", v1("/detail"), {{"X-Auth-Token", token}}, "");
  EXPECT_EQ(expired.status, 401);
  EXPECT_EQ(expired.body["error_code"], "APIGW.0301");

  const Reply issued_again = control("POST", "/v3/auth/tokens", token_body("iam-password-1"));
  const std::string fresh = issued_again.headers.find("X-Subject-Token")->second;
  const Reply projects = send("GET", "/v3/projects?name=eu-de", {{"X-Auth-Token", fresh}}, "");
  ASSERT_EQ(projects.status, 200);
  ASSERT_EQ(projects.body["projects"].size(), 1U);
  EXPECT_EQ(projects.body["projects"][0]["id"], kProject);
  EXPECT_TRUE(send("GET", "/v3/projects?name=eu-nl", {{"X-Auth-Token", fresh}}, "")
                  .body["projects"]
                  .empty());
  EXPECT_EQ(send("GET", "/v3/projects", {{"X-Auth-Token", token}}, "").status, 401);

  const Reply wrong = control("POST", "/v3/auth/tokens", token_body("nope"));
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body["error"]["code"], 401);
}

// §5.1: `offset` is a 1-based page number, `count` the total; filters by name, status, tags.
TEST_F(EcsSimulatorTest, ListsServersByPage) {
  start();
  for (int i = 0; i < 7; ++i) {
    add("web-" + std::to_string(i), true, false, OsType::Linux,
        {i % 2 == 0 ? "env=prod" : "env=dev", "role=web"});
  }
  std::set<std::string> seen;
  for (int page = 1; page <= 3; ++page) {
    const Reply reply = call("GET", v1("/detail?limit=3&offset=" + std::to_string(page)));
    ASSERT_EQ(reply.status, 200);
    EXPECT_EQ(reply.body["count"], 7);
    EXPECT_EQ(reply.body["servers"].size(), page < 3 ? 3U : 1U);
    for (const auto& s : reply.body["servers"]) {
      seen.insert(s["id"].get<std::string>());
      EXPECT_EQ(s["metadata"]["os_type"], "Linux");
      EXPECT_EQ(s["status"], "ACTIVE");
      EXPECT_EQ(s["OS-EXT-STS:power_state"], 1);
      EXPECT_FALSE(s["locked"].get<bool>());
    }
  }
  EXPECT_EQ(seen.size(), 7U);
  EXPECT_EQ(call("GET", v1("/detail?limit=3&offset=0")).body["servers"].size(), 3U);
  EXPECT_EQ(call("GET", v1("/detail?tags=env%3Dprod")).body["count"], 4);
  EXPECT_EQ(call("GET", v1("/detail?not-tags=env%3Dprod")).body["count"], 3);
  EXPECT_EQ(call("GET", v1("/detail?name=web-.")).body["count"], 7);
  EXPECT_EQ(call("GET", v1("/detail?name=web-6")).body["count"], 1);
  EXPECT_EQ(call("GET", v1("/detail?status=SHUTOFF")).body["count"], 0);
  EXPECT_EQ(call("GET", v1("/detail?limit=1001")).body["error"]["code"], "Ecs.0005");

  const std::string id = sim_->servers().front().id;
  const Reply one = call("GET", v1("/" + id));
  EXPECT_EQ(one.body["server"]["id"], id);
  const Reply missing = call("GET", v1("/00000000-0000-4000-8000-000000000000"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body["error"]["code"], "Ecs.0114");
}

// v2.1 reset: 200, no body, Nova-style errors; v1 reset: 204, Ecs-style errors, is_check_password.
// The password becomes effective only after a restart.
TEST_F(EcsSimulatorTest, ResetsSingleServers) {
  testing::LogCapture logs;
  start();
  const std::string id = add("app-1");
  const std::string locked = add("app-locked", true, true);
  const std::string before = sim_->server(id)->current_password;

  const Reply v21 =
      call("PUT", "/v2.1/" + std::string(kProject) + "/servers/" + id + "/os-reset-password",
           R"({"reset-password":{"new_password":"Weak"}})");
  EXPECT_EQ(v21.status, 200);
  EXPECT_TRUE(v21.raw.empty());
  auto state = *sim_->server(id);
  EXPECT_EQ(state.current_password, before);
  EXPECT_EQ(state.after_restart_password, "Weak");  // v2.1 performs no strength check
  ASSERT_EQ(state.history.size(), 1U);
  EXPECT_EQ(state.history[0].api, "reset-v2.1");

  EXPECT_EQ(call("PUT", v1("/" + id + "/os-reset-password"),
                 R"({"reset-password":{"new_password":"Str0ng-Pass.w0rd"}})")
                .status,
            204);
  EXPECT_EQ(sim_->server(id)->after_restart_password, "Str0ng-Pass.w0rd");
  const Reply weak =
      call("PUT", v1("/" + id + "/os-reset-password"),
           R"({"reset-password":{"new_password":"weakroot1","is_check_password":true}})");
  EXPECT_EQ(weak.status, 400);
  EXPECT_EQ(weak.body["error"]["code"], "Ecs.0011");

  const Reply nova_missing =
      call("PUT", "/v2.1/" + std::string(kProject) + "/servers/nope/os-reset-password",
           R"({"reset-password":{"new_password":"Str0ng-Pass.w0rd"}})");
  EXPECT_EQ(nova_missing.status, 404);
  EXPECT_EQ(nova_missing.body["itemNotFound"]["code"], 404);
  const Reply nova_locked =
      call("PUT", "/v2.1/" + std::string(kProject) + "/servers/" + locked + "/os-reset-password",
           R"({"reset-password":{"new_password":"Str0ng-Pass.w0rd"}})");
  EXPECT_EQ(nova_locked.status, 409);
  EXPECT_TRUE(nova_locked.body.contains("conflictingRequest"));
  const Reply v1_locked = call("PUT", v1("/" + locked + "/os-reset-password"),
                               R"({"reset-password":{"new_password":"Str0ng-Pass.w0rd"}})");
  EXPECT_EQ(v1_locked.body["error"]["code"], "Ecs.0605");
  EXPECT_EQ(call("PUT", v1("/nope/os-reset-password"),
                 R"({"reset-password":{"new_password":"Str0ng-Pass.w0rd"}})")
                .body["error"]["code"],
            "Ecs.0114");

  ASSERT_TRUE(sim_->restart_server(id));
  EXPECT_EQ(sim_->server(id)->current_password, "Str0ng-Pass.w0rd");
  EXPECT_FALSE(sim_->server(id)->pending());
  EXPECT_FALSE(logs.contains("Str0ng-Pass.w0rd"));  // the oracle keeps passwords out of logs
  EXPECT_FALSE(logs.contains(kSk));
}

// §1.3/1.4: dry run validates and changes nothing; per-server failures come back as error +
// internalError (the other servers are reset); too many servers is Ecs.0118.
TEST_F(EcsSimulatorTest, ResetsInBatches) {
  start();
  const std::string a = add("a");
  const std::string b = add("b");
  const std::string locked = add("c", true, true);
  const std::string pw = "Batch-Pass.2026x";

  const Reply dry = call("PUT", v1("/os-reset-passwords"), batch_body({a, b}, std::nullopt, true));
  ASSERT_EQ(dry.status, 200);
  EXPECT_EQ(dry.body["response"].size(), 2U);
  EXPECT_TRUE(sim_->server(a)->history.empty());

  const Reply ok = call("PUT", v1("/os-reset-passwords"), batch_body({a, b}, pw, false));
  ASSERT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body["response"][0]["id"], a);
  EXPECT_EQ(sim_->server(b)->after_restart_password, pw);

  const std::string missing = "11111111-2222-4333-8444-555555555555";
  const std::string pw2 = "Batch-Pass.2027y";
  const Reply partial =
      call("PUT", v1("/os-reset-passwords"), batch_body({a, missing, locked}, pw2, false));
  EXPECT_EQ(partial.status, 400);
  EXPECT_EQ(partial.body["error"]["code"], "Ecs.0611");
  ASSERT_EQ(partial.body["internalError"].size(), 2U);
  EXPECT_EQ(partial.body["internalError"][0]["id"], missing);
  EXPECT_EQ(partial.body["internalError"][0]["error_code"], "Ecs.0114");
  EXPECT_EQ(partial.body["internalError"][1]["error_code"], "Ecs.0605");
  EXPECT_EQ(sim_->server(a)->after_restart_password, pw2);  // applied to the healthy one

  const Reply dry_partial =
      call("PUT", v1("/os-reset-passwords"), batch_body({a, missing}, std::nullopt, true));
  EXPECT_EQ(dry_partial.body["internalError"].size(), 1U);

  EXPECT_EQ(
      call("PUT", v1("/os-reset-passwords"), batch_body({a}, "short", false)).body["error"]["code"],
      "Ecs.0011");
  EXPECT_EQ(call("PUT", v1("/os-reset-passwords"), batch_body({a}, std::nullopt, false))
                .body["error"]["code"],
            "Ecs.0005");
  std::vector<std::string> many(1001, a);
  EXPECT_EQ(
      call("PUT", v1("/os-reset-passwords"), batch_body(many, pw, false)).body["error"]["code"],
      "Ecs.0118");
}

// A server without the plug-in accepts the reset and silently keeps its password; its flag says
// "False".
TEST_F(EcsSimulatorTest, ServerWithoutPluginKeepsItsPassword) {
  start();
  const std::string id = add("legacy", false);
  const std::string good = add("modern");
  const std::string before = sim_->server(id)->current_password;
  EXPECT_EQ(call("GET", v1("/" + id + "/os-resetpwd-flag")).body["resetpwd_flag"], "False");
  EXPECT_EQ(call("GET", v1("/" + good + "/os-resetpwd-flag")).body["resetpwd_flag"], "True");
  EXPECT_EQ(call("PUT", v1("/" + id + "/os-reset-password"),
                 R"({"reset-password":{"new_password":"Str0ng-Pass.w0rd"}})")
                .status,
            204);
  ASSERT_TRUE(sim_->restart_server(id));
  const auto state = *sim_->server(id);
  EXPECT_EQ(state.current_password, before);
  EXPECT_EQ(state.after_restart_password, before);
  ASSERT_EQ(state.history.size(), 1U);
  EXPECT_FALSE(state.history[0].effective);
}

// §6: a batch reboot returns a job; polling moves it INIT → RUNNING → SUCCESS and the pending
// password becomes current. A stopped server's reboot sub-job fails with Ecs.0100.
TEST_F(EcsSimulatorTest, RebootJobAppliesPendingPassword) {
  start();
  const std::string id = add("db-1");
  ServerSpec stopped_spec;
  stopped_spec.status = "SHUTOFF";
  const std::string stopped = sim_->add_server(stopped_spec);
  ASSERT_EQ(call("PUT", v1("/" + id + "/os-reset-password"),
                 R"({"reset-password":{"new_password":"Str0ng-Pass.w0rd"}})")
                .status,
            204);
  const Reply started =
      call("POST", v1("/action"),
           json{{"reboot", {{"type", "SOFT"}, {"servers", {{{"id", id}}}}}}}.dump());
  ASSERT_EQ(started.status, 200);
  const std::string job = started.body["job_id"];
  EXPECT_EQ(job.size(), 32U);
  EXPECT_EQ(sim_->server(id)->status, "REBOOT");
  const std::string job_path = std::string("/v1/") + kProject + "/jobs/" + job;
  const Reply first = call("GET", job_path);
  EXPECT_EQ(first.body["status"], "RUNNING");
  const Reply second = call("GET", job_path);
  EXPECT_EQ(second.body["status"], "SUCCESS");
  EXPECT_EQ(second.body["entities"]["sub_jobs_total"], 1);
  EXPECT_EQ(second.body["entities"]["sub_jobs"][0]["entities"]["server_id"], id);
  EXPECT_TRUE(second.body["error_code"].is_null());
  const auto state = *sim_->server(id);
  EXPECT_EQ(state.status, "ACTIVE");
  EXPECT_EQ(state.current_password, "Str0ng-Pass.w0rd");
  EXPECT_EQ(state.restarts, 1);

  const Reply bad =
      call("POST", v1("/action"),
           json{{"reboot", {{"type", "HARD"}, {"servers", {{{"id", stopped}}}}}}}.dump());
  sim_->service().complete_jobs();
  const Reply failed = call(
      "GET", std::string("/v1/") + kProject + "/jobs/" + bad.body["job_id"].get<std::string>());
  EXPECT_EQ(failed.body["status"], "FAIL");
  EXPECT_EQ(failed.body["entities"]["sub_jobs"][0]["error_code"], "Ecs.0100");

  // Start a stopped server after a reset: the start applies the pending password too.
  ASSERT_EQ(call("PUT", v1("/" + stopped + "/os-reset-password"),
                 R"({"reset-password":{"new_password":"Str0ng-Pass.w1rd"}})")
                .status,
            204);
  call("POST", v1("/action"), json{{"os-start", {{"servers", {{{"id", stopped}}}}}}}.dump());
  clock_.advance(31s);  // jobs also finish on simulated time
  EXPECT_EQ(sim_->server(stopped)->current_password, "Str0ng-Pass.w1rd");
  EXPECT_EQ(call("GET", std::string("/v1/") + kProject + "/jobs/ffff").body["error"]["code"],
            "Common.0011");
  EXPECT_EQ(call("POST", v1("/action"), R"({"reboot":{"servers":[{"id":"x"}]}})").status, 400);
}

// §5.3 on both paths: filter with tags (values OR'ed), not_tags, paging by item offset; count.
TEST_F(EcsSimulatorTest, QueriesByTag) {
  start();
  add("p1", true, false, OsType::Linux, {"env=prod", "rotor=on"});
  add("p2", true, false, OsType::Windows, {"env=prod"});
  add("d1", true, false, OsType::Linux, {"env=dev", "rotor=on"});
  const json filter = {{"action", "filter"},
                       {"tags", {{{"key", "env"}, {"values", {"prod", "dev"}}}}},
                       {"not_tags", {{{"key", "rotor"}, {"values", json::array()}}}}};
  for (const std::string path :
       {"/servers/resource_instances/action", "/cloudservers/resource_instances/action"}) {
    const Reply reply = call("POST", std::string("/v1/") + kProject + path, filter.dump());
    ASSERT_EQ(reply.status, 200) << path;
    EXPECT_EQ(reply.body["total_count"], 1);
    EXPECT_EQ(reply.body["resources"][0]["resource_name"], "p2");
    EXPECT_EQ(reply.body["resources"][0]["tags"][0]["key"], "env");
  }
  const json count = {{"action", "count"},
                      {"tags", {{{"key", "rotor"}, {"values", json::array()}}}}};
  EXPECT_EQ(call("POST", v1("/resource_instances/action"), count.dump()).body,
            json({{"total_count", 2}}));
  const json page = {{"action", "filter"}, {"limit", "1"}, {"offset", "1"}};
  const Reply paged = call("POST", v1("/resource_instances/action"), page.dump());
  EXPECT_EQ(paged.body["total_count"], 3);
  EXPECT_EQ(paged.body["resources"][0]["resource_name"], "p2");
}

// Deleted servers answer 404 (Ecs.0114, Nova itemNotFound on v2.1).
TEST_F(EcsSimulatorTest, DeletedServerIsNotFound) {
  start();
  const std::string id = add("gone");
  EXPECT_EQ(control("DELETE", "/_sim/servers/" + id).status, 204);
  EXPECT_EQ(call("GET", v1("/" + id)).status, 404);
  EXPECT_EQ(call("GET", v1("/" + id + "/os-resetpwd-flag")).body["error"]["code"], "Ecs.0114");
  EXPECT_EQ(control("DELETE", "/_sim/servers/" + id).status, 404);
}

// Reset faults: "before" leaves the server untouched, "after" applies the password; both end
// without an answer.
TEST_F(EcsSimulatorTest, ResetFaultsBeforeAndAfterTheChange) {
  start();
  const std::string id = add("x");
  const std::string path = v1("/" + id + "/os-reset-password");
  sim_->force_fault({FaultClass::ResetBefore, "PUT", "os-reset-password", 1});
  EXPECT_EQ(call("PUT", path, R"({"reset-password":{"new_password":"Str0ng-Pass.w0rd"}})").status,
            0);
  EXPECT_TRUE(sim_->server(id)->history.empty());
  sim_->force_fault({FaultClass::ResetAfter, "PUT", "os-reset-password", 1});
  EXPECT_EQ(call("PUT", path, R"({"reset-password":{"new_password":"Str0ng-Pass.w0rd"}})").status,
            0);
  EXPECT_EQ(sim_->server(id)->after_restart_password, "Str0ng-Pass.w0rd");
  EXPECT_EQ(sim_->stats().faults.at("reset_before"), 1U);
  EXPECT_EQ(sim_->stats().faults.at("reset_after"), 1U);
  EXPECT_EQ(call("PUT", path, R"({"reset-password":{"new_password":"Str0ng-Pass.w0rd"}})").status,
            204);
}

// Server errors (500 before, 504 after the change), Common.0024 with HTTP 202, and a timeout that
// holds the answer past the client's read timeout.
TEST_F(EcsSimulatorTest, ErrorThrottleAndTimeoutFaults) {
  start();
  const std::string id = add("y");
  const std::string path = v1("/" + id + "/os-reset-password");
  const std::string body = R"({"reset-password":{"new_password":"Str0ng-Pass.w0rd"}})";
  sim_->force_fault({FaultClass::ServerError, "", "", 1});
  const Reply e500 = call("PUT", path, body);
  EXPECT_EQ(e500.status, 500);
  EXPECT_EQ(e500.body["error"]["code"], "Common.0001");
  EXPECT_TRUE(sim_->server(id)->history.empty());
  sim_->force_fault({FaultClass::ServerErrorAfter, "", "", 1});
  EXPECT_EQ(call("PUT", path, body).status, 504);
  EXPECT_EQ(sim_->server(id)->history.size(), 1U);
  sim_->force_fault({FaultClass::Throttle, "", "", 1});
  const Reply throttled = call("PUT", path, body);
  EXPECT_EQ(throttled.status, 202);
  EXPECT_EQ(throttled.body["error"]["code"], "Common.0024");
  EXPECT_EQ(sim_->server(id)->history.size(), 1U);

  FaultProfile profile;
  profile.hold = 2000ms;
  sim_->set_faults(profile);
  sim_->force_fault({FaultClass::TimeoutAfter, "", "", 1});
  client_->set_read_timeout(0, 200000);
  const auto begin = std::chrono::steady_clock::now();
  EXPECT_EQ(call("PUT", path, R"({"reset-password":{"new_password":"Str0ng-Pass.w2rd"}})").status,
            0);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1500ms);
  EXPECT_EQ(sim_->server(id)->after_restart_password, "Str0ng-Pass.w2rd");
}

// Above the configured requests/s the simulator answers 429 Common.1503 with Retry-After; the
// bucket refills on the simulator's clock.
TEST_F(EcsSimulatorTest, RateLimitsAboveConfiguredRate) {
  EcsSimulatorOptions options;
  options.faults.rate_limit_rps = 2;
  options.faults.rate_limit_burst = 2;
  start(options);
  EXPECT_EQ(call("GET", v1("/detail")).status, 200);
  EXPECT_EQ(call("GET", v1("/detail")).status, 200);
  const Reply limited = call("GET", v1("/detail"));
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.body["error"]["code"], "Common.1503");
  EXPECT_EQ(limited.headers.find("Retry-After")->second, "1");
  clock_.advance(1s);
  EXPECT_EQ(call("GET", v1("/detail")).status, 200);
  sim_->set_faults_enabled(false);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(call("GET", v1("/detail")).status, 200);
  }
}

// Random faults are a function of the seed: the same seed gives the same sequence per URL.
TEST_F(EcsSimulatorTest, RandomFaultsAreDeterministicBySeed) {
  auto sequence = [](std::uint64_t seed) {
    testing::ManualClock clock;
    FaultProfile profile;
    profile.rates.server_error = 0.2;
    profile.rates.throttle = 0.2;
    profile.rates.reset_before = 0.1;
    EcsSimulatorOptions options;
    options.seed = seed;
    options.faults = profile;
    options.verify_auth = false;
    options.clock = &clock;
    EcsService service(options);
    std::string out;
    for (int i = 0; i < 60; ++i) {
      SimRequest req{"GET", "/v1/p/cloudservers/detail", {}, {}, ""};
      const SimResponse res = service.handle(req);
      out += res.action == SimResponse::Action::Reset ? "R" : std::to_string(res.status / 100);
    }
    return out;
  };
  const std::string a = sequence(42);
  EXPECT_EQ(a, sequence(42));
  EXPECT_NE(a, sequence(43));
  EXPECT_NE(a.find('R'), std::string::npos);
  EXPECT_NE(a.find('5'), std::string::npos);
  EXPECT_NE(a.find('2'), std::string::npos);
}

// A generated fleet is a function of the seed: ids, names, OS, plug-in and initial passwords.
TEST_F(EcsSimulatorTest, GeneratedFleetIsDeterministicBySeed) {
  auto fleet = [](std::uint64_t seed) {
    EcsSimulatorOptions options;
    options.seed = seed;
    options.fleet.count = 50;
    options.fleet.no_plugin_share = 0.2;
    EcsService service(options);
    std::string out;
    for (const auto& s : service.servers()) {
      out += s.id + s.name + std::string(to_string(s.os_type)) + (s.plugin ? "+" : "-") +
             s.current_password + ";";
    }
    return out;
  };
  EXPECT_EQ(fleet(5), fleet(5));
  EXPECT_NE(fleet(5), fleet(6));
}

// Concurrent clients resetting different servers: every accepted reset is recorded once.
TEST_F(EcsSimulatorTest, ConcurrentResetsAreAllRecorded) {
  EcsSimulatorOptions options;
  options.fleet.count = 8;
  options.fleet.no_plugin_share = 0;
  start(options);
  const auto servers = sim_->servers();
  std::vector<std::thread> threads;
  std::atomic<int> accepted{0};
  for (const auto& server : servers) {
    threads.emplace_back([&, id = server.id] {
      httplib::Client client("127.0.0.1", port_);
      for (int i = 0; i < 10; ++i) {
        const std::string body =
            json{{"reset-password", {{"new_password", "Kluw-Pq7.Zx" + std::to_string(i)}}}}.dump();
        httplib::Headers headers{{"X-Sdk-Date", sig::format_sdk_date(clock_.now())},
                                 {"Host", "127.0.0.1:" + std::to_string(port_)}};
        const std::string path = v1("/" + id + "/os-reset-password");
        sig::Headers h(headers.begin(), headers.end());
        h.emplace_back("Content-Type", "application/json");  // added by Put() below
        sig::ReceivedRequest r{"PUT", path, {}, h, body};
        headers.emplace("Authorization", sig::authorization_header(
                                             kAk, kSk, r, {"host", "x-sdk-date", "content-type"}));
        auto res = client.Put(path, headers, body, "application/json");
        if (res && res->status == 204) {
          ++accepted;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(accepted.load(), 80);
  for (const auto& server : sim_->servers()) {
    EXPECT_EQ(server.history.size(), 10U) << server.id;
    EXPECT_EQ(server.after_restart_password, "Kluw-Pq7.Zx9");
  }
  EXPECT_EQ(sim_->stats()
                .by_route.at("PUT /v1/{project_id}/cloudservers/{server_id}/os-reset-password")
                .at(204),
            80U);
}

// A disabled API answers like a region without it (gateway 404), switchable at runtime.
TEST_F(EcsSimulatorTest, DisabledApisAnswerGateway404) {
  EcsSimulatorOptions options;
  options.disabled_apis = {"resetpwd-flag"};
  start(options);
  const std::string id = add("probe");
  const Reply missing = call("GET", v1("/" + id + "/os-resetpwd-flag"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body["error_code"], "APIGW.0101");
  EXPECT_EQ(control("POST", "/_sim/apis", R"({"disabled":["bogus"]})").status, 400);
  const Reply apis = control("POST", "/_sim/apis", R"({"disabled":["reset-v2.1"]})");
  EXPECT_EQ(apis.body["disabled"], json({"reset-v2.1"}));
  EXPECT_EQ(apis.body["apis"].size(), api_keys().size());
  EXPECT_EQ(call("GET", v1("/" + id + "/os-resetpwd-flag")).status, 200);
  EXPECT_EQ(call("PUT", "/v2.1/" + std::string(kProject) + "/servers/" + id + "/os-reset-password",
                 R"({"reset-password":{"new_password":"Kluw-Pq7.Zx9y"}})")
                .status,
            404);
  EcsSimulatorOptions bad;
  bad.disabled_apis = {"no-such-api"};
  EXPECT_THROW(EcsService{bad}, std::invalid_argument);
}

// The /_sim controls: list, add, patch, restart, faults, stats, jobs, clock.
TEST_F(EcsSimulatorTest, SimControls) {
  EcsSimulatorOptions options;
  options.fleet.count = 20;
  options.fleet.windows_share = 0.5;
  options.fleet.no_plugin_share = 0.2;
  start(options);
  const Reply list = control("GET", "/_sim/servers");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["servers"].size(), 20U);
  int windows = 0;
  for (const auto& s : list.body["servers"]) {
    windows += s["os_type"] == "Windows" ? 1 : 0;
    for (const char* key : {"id", "name", "os_type", "status", "plugin", "locked",
                            "current_password", "after_restart_password", "history"}) {
      EXPECT_TRUE(s.contains(key)) << key;
    }
  }
  EXPECT_GT(windows, 0);
  EXPECT_LT(windows, 20);

  const Reply added =
      control("POST", "/_sim/servers",
              R"({"name":"manual","os_type":"Windows","plugin":false,"password":"P@ss-0ld-1"})");
  ASSERT_EQ(added.status, 201);
  const std::string id = added.body["id"];
  EXPECT_EQ(added.body["current_password"], "P@ss-0ld-1");
  EXPECT_EQ(
      control("PATCH", "/_sim/servers/" + id, R"({"locked":true,"plugin":true})").body["locked"],
      true);
  EXPECT_EQ(control("POST", "/_sim/servers/" + id + "/restart").body["restarts"], 1);

  const Reply faults = control(
      "POST", "/_sim/faults", R"({"profile":"flaky","force":[{"class":"reset_after","count":2}]})");
  ASSERT_EQ(faults.status, 200);
  EXPECT_EQ(faults.body["forced_pending"], 1);
  EXPECT_GT(faults.body["profile"]["rates"]["reset_after"].get<double>(), 0.0);
  EXPECT_EQ(control("POST", "/_sim/faults", R"({"profile":"bogus"})").status, 400);
  EXPECT_EQ(control("POST", "/_sim/faults", R"({"enabled":false})").body["profile"]["enabled"],
            false);
  EXPECT_EQ(control("DELETE", "/_sim/faults").status, 204);

  call("GET", v1("/detail"));
  const Reply stats = control("GET", "/_sim/stats");
  EXPECT_EQ(stats.body["routes"]["GET /v1/{project_id}/cloudservers/detail"]["200"], 1);
  EXPECT_EQ(control("POST", "/_sim/jobs/complete").body["completed"], 0);
  EXPECT_EQ(control("POST", "/_sim/clock", R"({"advance_seconds":60})").status, 200);
  EXPECT_EQ(control("GET", "/_sim/nothing").status, 404);
}

// Over HTTPS with the test PKI: the simulator serves TLS with the given certificate.
TEST_F(EcsSimulatorTest, ServesHttps) {
  const auto pki = testing::make_test_pki();
  EcsSimulatorOptions options;
  options.tls = TlsFiles{pki.server_cert.string(), pki.server_key.string()};
  options.clock = &clock_;
  options.access_keys = {{kAk, kSk}};
  EcsSimulator sim(options);
  const int port = sim.start();
  EXPECT_EQ(sim.base_url().rfind("https://127.0.0.1:", 0), 0U);
  httplib::SSLClient client("127.0.0.1", port);
  client.set_ca_cert_path(pki.ca_cert.c_str());
  client.enable_server_certificate_verification(true);
  auto res = client.Get("/_sim/servers");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  sim.stop();
  testing::remove_test_pki(pki);
}

}  // namespace
}  // namespace rotor::sim
