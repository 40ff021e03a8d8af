// mopps::Client: see include/mopps/client.hpp.
#include "mopps/client.hpp"

#include <charconv>
#include <cstring>
#include <random>
#include <system_error>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "mopps/v1/selector.pb.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "packed arrays are sent as host memory: little-endian hosts only");

namespace mopps {

namespace {

constexpr std::string_view kCodeNames[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};

template <class T>
std::string le_bytes(Span<T> values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

template <class T>
std::vector<T> from_le(const std::string& bytes, const char* field) {
  if (bytes.size() % sizeof(T) != 0) {
    throw Error(Code::internal, std::string(field) + ": " + std::to_string(bytes.size()) +
                                    " bytes is not a whole number of values");
  }
  std::vector<T> out(bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

std::string fresh_request_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

PoolConfig config_from(const v1::PoolConfig& m) {
  PoolConfig c;
  if (m.prior_alpha_opt_case()) c.prior_alpha = m.prior_alpha();
  if (m.prior_beta_opt_case()) c.prior_beta = m.prior_beta();
  if (m.decay_opt_case()) c.decay = m.decay();
  if (m.target_opt_case()) c.target = m.target();
  if (m.band_low_opt_case()) c.band_low = m.band_low();
  if (m.band_high_opt_case()) c.band_high = m.band_high();
  c.strategy = static_cast<Strategy>(m.strategy());
  if (m.seed_opt_case()) c.seed = m.seed();
  c.strict_ids = m.strict_ids();
  return c;
}

PoolInfo info_from(const v1::PoolInfo& m) {
  PoolInfo info;
  info.name = m.name();
  info.config = config_from(m.config());
  info.prompt_count = m.prompt_count();
  info.select_count = m.select_count();
  info.update_count = m.update_count();
  return info;
}

}  // namespace

std::string_view code_name(Code code) {
  auto i = static_cast<int>(code);
  return i >= 0 && i < static_cast<int>(std::size(kCodeNames)) ? kCodeNames[i] : "UNKNOWN";
}

Error::Error(Code code, std::string message)
    : std::runtime_error(std::string(mopps::code_name(code)) + ": " + message), code_(code),
      message_(std::move(message)) {}

struct Client::Impl {
  Options options;
  zmq::context_t context;
  std::optional<zmq::socket_t> socket;  // declared after the context: closed before it
  bool retried = false;

  void open() {
    zmq::socket_t s(context, zmq::socket_type::req);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::rcvtimeo, static_cast<int>(options.timeout.count()));
    s.set(zmq::sockopt::sndtimeo, static_cast<int>(options.timeout.count()));
    if (!options.server_key.empty()) {
      s.set(zmq::sockopt::curve_serverkey, options.server_key);
      s.set(zmq::sockopt::curve_publickey, options.public_key);
      s.set(zmq::sockopt::curve_secretkey, options.secret_key);
    }
    s.connect(options.endpoint);
    socket = std::move(s);
  }

  std::string call(const std::string& method, const std::string& body) {
    const std::string path = "/mopps.v1.Selector/" + method;
    retried = false;
    for (int attempt = 0; attempt <= options.retries; attempt++) {
      if (attempt > 0) {
        // A REQ socket that missed its reply is stuck mid-exchange: replace it, then resend.
        socket.reset();
        open();
        retried = true;
      }
      if (!socket->send(zmq::buffer(path), zmq::send_flags::sndmore) ||
          !socket->send(zmq::buffer(body), zmq::send_flags::none)) {
        continue;
      }
      std::vector<zmq::message_t> frames;
      if (!zmq::recv_multipart(*socket, std::back_inserter(frames))) continue;
      v1::Status status;
      if (frames.empty() || !status.ParseFromArray(frames[0].data(), static_cast<int>(frames[0].size()))) {
        throw Error(Code::internal, method + ": the reply's status frame does not parse");
      }
      if (status.code() != v1::OK) throw Error(static_cast<Code>(status.code()), status.message());
      return frames.size() > 1 ? frames[1].to_string() : std::string();
    }
    // Leave a usable socket behind: the last one is still waiting for its reply.
    socket.reset();
    open();
    throw Error(Code::unavailable, "no reply from " + options.endpoint + " within " +
                                       std::to_string(options.timeout.count()) + " ms, " +
                                       std::to_string(options.retries + 1) + " attempt(s) (" + method + ")");
  }

  template <class Reply, class Request>
  Reply call(const std::string& method, const Request& request) {
    const std::string body = call(method, request.SerializeAsString());
    Reply reply;
    if (!reply.ParseFromString(body)) throw Error(Code::internal, method + ": the reply body does not parse");
    return reply;
  }

  UpdateResult update(v1::UpdateRequest& req, const std::string& request_id) {
    req.set_request_id(request_id.empty() ? fresh_request_id() : request_id);
    auto r = call<v1::UpdateResponse>("Update", req);
    return {r.updated(), r.duplicate()};
  }
};

Client::Client(Options options) : impl_(std::make_unique<Impl>()) {
  if (options.timeout.count() <= 0) throw Error(Code::invalid_argument, "timeout must be > 0");
  if (options.retries < 0) throw Error(Code::invalid_argument, "retries must be >= 0");
  if (options.public_key.empty() != options.secret_key.empty()) {
    throw Error(Code::invalid_argument, "give both public_key and secret_key, or neither");
  }
  if (!options.server_key.empty() && options.public_key.empty()) {
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) throw Error(Code::internal, "zmq_curve_keypair: libzmq without CURVE");
    options.public_key = pub;
    options.secret_key = sec;
  }
  impl_->options = std::move(options);
  try {
    impl_->open();
  } catch (const zmq::error_t& e) {
    throw Error(Code::invalid_argument, "connect " + impl_->options.endpoint + ": " + e.what());
  }
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

std::string Client::call_raw(const std::string& method, const std::string& body) { return impl_->call(method, body); }

std::pair<std::string, std::string> Client::health() {
  auto r = impl_->call<v1::HealthResponse>("Health", v1::HealthRequest());
  return {r.status(), r.version()};
}

PoolInfo Client::create_pool(const std::string& pool, const PoolConfig& config) {
  v1::CreatePoolRequest req;
  req.set_pool(pool);
  auto* c = req.mutable_config();
  if (config.prior_alpha) c->set_prior_alpha(*config.prior_alpha);
  if (config.prior_beta) c->set_prior_beta(*config.prior_beta);
  if (config.decay) c->set_decay(*config.decay);
  if (config.target) c->set_target(*config.target);
  if (config.band_low) c->set_band_low(*config.band_low);
  if (config.band_high) c->set_band_high(*config.band_high);
  c->set_strategy(static_cast<v1::Strategy>(config.strategy));
  if (config.seed) c->set_seed(*config.seed);
  if (config.strict_ids) c->set_strict_ids(true);
  try {
    return info_from(impl_->call<v1::CreatePoolResponse>("CreatePool", req).pool());
  } catch (const Error& e) {
    // A retry whose first attempt did create the pool: report that pool.
    if (!(e.code() == Code::already_exists && impl_->retried)) throw;
    for (auto& info : list_pools()) {
      if (info.name == pool) return info;
    }
    throw;
  }
}

void Client::drop_pool(const std::string& pool) {
  v1::DropPoolRequest req;
  req.set_pool(pool);
  try {
    impl_->call<v1::DropPoolResponse>("DropPool", req);
  } catch (const Error& e) {
    // A retry whose first attempt did drop the pool finds it gone: the success asked for.
    if (!(e.code() == Code::not_found && impl_->retried)) throw;
  }
}

std::vector<PoolInfo> Client::list_pools() {
  auto r = impl_->call<v1::ListPoolsResponse>("ListPools", v1::ListPoolsRequest());
  std::vector<PoolInfo> out;
  for (const auto& p : r.pools()) out.push_back(info_from(p));
  return out;
}

std::uint64_t Client::register_ids(const std::string& pool, Span<std::uint64_t> ids, Span<double> prior_alpha,
                                   Span<double> prior_beta) {
  if (prior_alpha.empty() != prior_beta.empty()) {
    throw Error(Code::invalid_argument, "give both prior_alpha and prior_beta, or neither");
  }
  v1::RegisterRequest req;
  req.set_pool(pool);
  req.set_ids_le(le_bytes(ids));
  for (double a : prior_alpha) req.add_prior_alpha(a);
  for (double b : prior_beta) req.add_prior_beta(b);
  return impl_->call<v1::RegisterResponse>("Register", req).added();
}

Selection Client::select(const std::string& pool, std::uint32_t batch_size, const SelectOptions& options) {
  v1::SelectRequest req;
  req.set_pool(pool);
  req.set_batch_size(batch_size);
  if (!options.candidates.empty()) req.set_candidates_le(le_bytes(options.candidates));
  req.set_candidate_count(options.candidate_count);
  req.set_strategy(static_cast<v1::Strategy>(options.strategy));
  req.set_return_means(options.return_means);
  req.set_packed_reply(true);
  req.set_request_id(options.request_id.empty() ? fresh_request_id() : options.request_id);
  auto r = impl_->call<v1::SelectResponse>("Select", req);
  Selection s;
  s.ids = from_le<std::uint64_t>(r.ids_le(), "ids_le");
  s.samples = from_le<float>(r.samples_le(), "samples_le");
  if (options.return_means) s.means = from_le<double>(r.means_le(), "means_le");
  s.select_index = r.select_index();
  return s;
}

UpdateResult Client::update(const std::string& pool, Span<std::uint64_t> ids, Span<double> successes,
                            Span<std::uint32_t> trials, const std::string& request_id) {
  v1::UpdateRequest req;
  req.set_pool(pool);
  req.set_ids_le(le_bytes(ids));
  req.set_successes_le(le_bytes(successes));
  req.set_trials_le(le_bytes(trials));
  return impl_->update(req, request_id);
}

UpdateResult Client::update(const std::string& pool, Span<std::uint64_t> ids, Span<double> successes,
                            std::uint32_t rollouts, const std::string& request_id) {
  v1::UpdateRequest req;
  req.set_pool(pool);
  req.set_ids_le(le_bytes(ids));
  req.set_successes_le(le_bytes(successes));
  req.set_rollouts(rollouts);
  return impl_->update(req, request_id);
}

Posteriors Client::get(const std::string& pool, Span<std::uint64_t> ids) {
  v1::GetRequest req;
  req.set_pool(pool);
  req.set_ids_le(le_bytes(ids));
  req.set_packed_reply(true);
  auto r = impl_->call<v1::GetResponse>("Get", req);
  return {from_le<std::uint64_t>(r.ids_le(), "ids_le"), from_le<double>(r.alpha_le(), "alpha_le"),
          from_le<double>(r.beta_le(), "beta_le")};
}

v1::SnapshotInfo Client::snapshot(const std::string& pool, const std::string& tag) {
  v1::SnapshotRequest req;
  req.set_pool(pool);
  req.set_tag(tag);
  return impl_->call<v1::SnapshotResponse>("Snapshot", req).snapshot();
}

PoolInfo Client::restore(const std::string& pool, const std::string& tag) {
  v1::RestoreRequest req;
  req.set_pool(pool);
  req.set_tag(tag);
  return info_from(impl_->call<v1::RestoreResponse>("Restore", req).pool());
}

std::vector<v1::SnapshotInfo> Client::list_snapshots(const std::string& pool) {
  v1::ListSnapshotsRequest req;
  req.set_pool(pool);
  auto r = impl_->call<v1::ListSnapshotsResponse>("ListSnapshots", req);
  return {r.snapshots().begin(), r.snapshots().end()};
}

std::uint64_t Client::import_posteriors(const std::string& pool, Span<std::uint64_t> ids, Span<double> alpha,
                                        Span<double> beta) {
  v1::ImportRequest req;
  req.set_pool(pool);
  req.set_ids_le(le_bytes(ids));
  req.set_alpha_le(le_bytes(alpha));
  req.set_beta_le(le_bytes(beta));
  return impl_->call<v1::ImportResponse>("Import", req).imported();
}

Posteriors Client::export_posteriors(const std::string& pool) {
  v1::ExportRequest req;
  req.set_pool(pool);
  auto r = impl_->call<v1::ExportResponse>("Export", req);
  return {from_le<std::uint64_t>(r.ids_le(), "ids_le"), from_le<double>(r.alpha_le(), "alpha_le"),
          from_le<double>(r.beta_le(), "beta_le")};
}

v1::StatsResponse Client::stats() { return impl_->call<v1::StatsResponse>("Stats", v1::StatsRequest()); }

std::string format_float32(float value) {
  // std::to_chars without a precision gives the shortest digits that read back to the same float;
  // they are taken from the scientific form and written positionally (the fixed form would print
  // the exact binary value of large numbers: 1727290368 where the rule says 1727290400).
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  if (ec != std::errc()) return "?";
  const std::string sci(buf, end);
  if (sci == "inf" || sci == "-inf" || sci == "nan" || sci == "-nan") return sci.back() == 'n' ? "nan" : sci;
  std::size_t e = sci.find('e');
  std::string digits;
  bool negative = sci[0] == '-';
  for (std::size_t i = negative ? 1 : 0; i < e; i++) {
    if (sci[i] != '.') digits += sci[i];
  }
  const int exponent = std::stoi(sci.substr(e + 1));
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (digits == "0") return negative ? "-0" : "0";
  std::string out = negative ? "-" : "";
  if (exponent < 0) {
    out += "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
  } else {
    const auto whole = static_cast<std::size_t>(exponent) + 1;
    if (digits.size() <= whole) {
      out += digits + std::string(whole - digits.size(), '0');
    } else {
      out += digits.substr(0, whole) + "." + digits.substr(whole);
    }
  }
  return out;
}

}  // namespace mopps
