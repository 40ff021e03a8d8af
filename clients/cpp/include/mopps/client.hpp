// mopps::Client: a C++17 client for moppsd over cppzmq and the protobuf (lite) code of proto/.
//
//   mopps::Client client(mopps::Options("ipc:///tmp/mopps-state/moppsd.sock"));
//   mopps::PoolConfig config;
//   config.decay = 0.5;
//   config.seed = 1;
//   client.create_pool("math", config);
//   std::vector<uint64_t> ids(4096);
//   std::iota(ids.begin(), ids.end(), 0);
//   mopps::Selection batch = client.select("math", 256, {ids});
//   client.update("math", batch.ids, successes, 8);  // 8 rollouts each
//
// Failures throw mopps::Error carrying the gRPC code (code(), code_name()) and the server's message.
// Arrays are passed as mopps::Span views (vector, array, pointer + size) and sent as packed
// little-endian bytes. Reliability ("Lazy Pirate"): each attempt waits `timeout`; on a timeout the
// socket is replaced and the same request resent, up to `retries` more times, then UNAVAILABLE.
// Select and Update carry request ids (fresh ones when not given), so a retried Update is applied
// once; a retried CreatePool or DropPool whose first attempt went through is reported as success. One Client owns one REQ socket (RAII): not thread-safe; give each thread its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mopps {

namespace v1 {
class SnapshotInfo;
class StatsResponse;
}  // namespace v1

// gRPC canonical codes (mopps.v1.Code).
enum class Code : int {
  ok = 0, cancelled = 1, unknown = 2, invalid_argument = 3, deadline_exceeded = 4, not_found = 5,
  already_exists = 6, permission_denied = 7, resource_exhausted = 8, failed_precondition = 9,
  aborted = 10, out_of_range = 11, unimplemented = 12, internal = 13, unavailable = 14, data_loss = 15,
  unauthenticated = 16,
};

// "INVALID_ARGUMENT" for Code::invalid_argument; "UNKNOWN" out of range.
std::string_view code_name(Code code);

class Error : public std::runtime_error {
 public:
  Error(Code code, std::string message);
  Code code() const noexcept { return code_; }
  std::string_view code_name() const noexcept { return mopps::code_name(code_); }
  const std::string& message() const noexcept { return message_; }

 private:
  Code code_;
  std::string message_;
};

// A read-only view of contiguous values (std::span for C++17).
template <class T>
class Span {
 public:
  constexpr Span() noexcept = default;
  constexpr Span(const T* data, std::size_t size) noexcept : data_(data), size_(size) {}
  template <class Container, class = decltype(std::declval<const Container&>().data())>
  constexpr Span(const Container& c) noexcept : data_(c.data()), size_(c.size()) {}
  constexpr const T* data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }
  constexpr bool empty() const noexcept { return size_ == 0; }
  constexpr const T* begin() const noexcept { return data_; }
  constexpr const T* end() const noexcept { return data_ + size_; }
  constexpr const T& operator[](std::size_t i) const noexcept { return data_[i]; }

 private:
  const T* data_ = nullptr;
  std::size_t size_ = 0;
};

enum class Strategy : int { unspecified = 0, topk = 1, threshold = 2, uniform = 3 };

struct Options {
  Options() = default;
  Options(std::string endpoint_) : endpoint(std::move(endpoint_)) {}  // NOLINT: implicit on purpose
  std::string endpoint;                                    // "ipc://...", "tcp://127.0.0.1:5555"
  std::chrono::milliseconds timeout{5000};                 // per attempt
  int retries = 2;                                         // further attempts after a timeout
  // CurveZMQ (Z85): the server's public key, and this client's pair (generated when empty).
  std::string server_key, public_key, secret_key;
};

// Unset fields take the server's defaults.
struct PoolConfig {
  std::optional<double> prior_alpha, prior_beta, decay, target, band_low, band_high;
  Strategy strategy = Strategy::unspecified;
  std::optional<std::uint64_t> seed;
  bool strict_ids = false;
};

struct PoolInfo {
  std::string name;
  PoolConfig config;  // every field set: the values in force
  std::uint64_t prompt_count = 0, select_count = 0, update_count = 0;
};

struct SelectOptions {
  Span<std::uint64_t> candidates;    // empty: server-drawn (candidate_count) or all registered
  std::uint32_t candidate_count = 0;
  Strategy strategy = Strategy::unspecified;
  bool return_means = false;
  std::string request_id;            // empty: a fresh one
};

struct Selection {
  std::vector<std::uint64_t> ids;
  std::vector<float> samples;
  std::vector<double> means;  // with return_means
  std::uint64_t select_index = 0;
};

struct UpdateResult {
  std::uint64_t updated = 0;
  bool duplicate = false;  // the request id was already applied; nothing changed
};

struct Posteriors {
  std::vector<std::uint64_t> ids;
  std::vector<double> alpha, beta;
};

class Client {
 public:
  explicit Client(Options options);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // "SERVING" and the server's version.
  std::pair<std::string, std::string> health();
  PoolInfo create_pool(const std::string& pool, const PoolConfig& config = {});
  void drop_pool(const std::string& pool);
  std::vector<PoolInfo> list_pools();
  // Register (a C++ keyword): how many ids were new. Priors: both or neither, one per id.
  std::uint64_t register_ids(const std::string& pool, Span<std::uint64_t> ids, Span<double> prior_alpha = {},
                             Span<double> prior_beta = {});
  Selection select(const std::string& pool, std::uint32_t batch_size, const SelectOptions& options = {});
  UpdateResult update(const std::string& pool, Span<std::uint64_t> ids, Span<double> successes,
                      Span<std::uint32_t> trials, const std::string& request_id = "");
  UpdateResult update(const std::string& pool, Span<std::uint64_t> ids, Span<double> successes,
                      std::uint32_t rollouts, const std::string& request_id = "");
  // ids empty: every registered prompt.
  Posteriors get(const std::string& pool, Span<std::uint64_t> ids = {});
  v1::SnapshotInfo snapshot(const std::string& pool, const std::string& tag);
  PoolInfo restore(const std::string& pool, const std::string& tag);
  std::vector<v1::SnapshotInfo> list_snapshots(const std::string& pool = "");
  std::uint64_t import_posteriors(const std::string& pool, Span<std::uint64_t> ids, Span<double> alpha,
                                  Span<double> beta);
  Posteriors export_posteriors(const std::string& pool);
  v1::StatsResponse stats();

  // One request [/mopps.v1.Selector/<method>][body] with retries; the reply body of an OK status.
  std::string call_raw(const std::string& method, const std::string& body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The shortest positional decimal that reads back to the same float ("1", "4.5", "0.3"): the rule
// the conformance programs print posteriors with.
std::string format_float32(float value);

}  // namespace mopps
