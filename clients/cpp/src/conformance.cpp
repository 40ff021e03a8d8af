// mopps-conformance in C++: the request sequence of clients/python/mopps/conformance.py, printing
// the same bytes (see clients/README.md).
//
//   mopps-conformance --endpoint E --pool P --seed S --prompts K --batch B --steps N
//   mopps-conformance --format-float32 < values      (one value per line: the float rule alone)
//
// Optional: --timeout-ms T, --server-key K (CURVE), --bench-select R (see conformance.py).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "mopps/client.hpp"

namespace {

int usage(const char* argv0) {
  std::cerr << "usage: " << argv0 << " --endpoint E --pool P --seed S --prompts K --batch B --steps N\n";
  return 64;
}

template <class F>
std::string code_of(F&& call) {
  try {
    call();
  } catch (const mopps::Error& e) {
    return std::string(e.code_name());
  }
  return "OK";
}

// R timed Selects of `batch` from `prompts` client-given candidates: the median round trip in µs.
double bench_select(mopps::Client& client, const std::string& pool, std::uint64_t seed, std::uint64_t prompts,
                    std::uint32_t batch, int reps) {
  mopps::PoolConfig config;
  config.seed = seed;
  client.create_pool(pool, config);
  std::vector<std::uint64_t> ids(prompts);
  std::iota(ids.begin(), ids.end(), 0);
  mopps::SelectOptions options;
  options.candidates = ids;
  const int warm = std::max(1, reps / 10);
  std::vector<std::int64_t> times;
  for (int i = 0; i < reps + warm; i++) {
    auto start = std::chrono::steady_clock::now();
    client.select(pool, batch, options);
    times.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
                        .count());
  }
  std::sort(times.begin() + warm, times.end());
  return static_cast<double>(times[static_cast<std::size_t>(warm + reps / 2)]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--format-float32") {
    std::string line;
    while (std::getline(std::cin, line)) std::cout << mopps::format_float32(std::strtof(line.c_str(), nullptr)) << "\n";
    return 0;
  }
  std::map<std::string, std::string> flags;
  for (int i = 1; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  for (const char* f : {"--endpoint", "--pool", "--seed", "--prompts", "--batch", "--steps"}) {
    if (!flags.count(f)) return usage(argv[0]);
  }
  if (argc % 2 == 0) return usage(argv[0]);
  for (const auto& [flag, value] : flags) {
    (void)value;
    if (flag != "--endpoint" && flag != "--pool" && flag != "--seed" && flag != "--prompts" && flag != "--batch" &&
        flag != "--steps" && flag != "--timeout-ms" && flag != "--server-key" && flag != "--bench-select") {
      return usage(argv[0]);
    }
  }
  const std::string pool = flags["--pool"];
  const std::uint64_t seed = std::stoull(flags["--seed"]), prompts = std::stoull(flags["--prompts"]);
  const std::uint32_t batch = static_cast<std::uint32_t>(std::stoul(flags["--batch"]));
  const std::uint64_t steps = std::stoull(flags["--steps"]);
  try {
    mopps::Options client_options(flags["--endpoint"]);
    if (flags.count("--timeout-ms")) client_options.timeout = std::chrono::milliseconds(std::stoi(flags["--timeout-ms"]));
    if (flags.count("--server-key")) client_options.server_key = flags["--server-key"];
    mopps::Client client{client_options};
    if (flags.count("--bench-select")) {
      char line[64];
      std::snprintf(line, sizeof line, "select p50 us: %.1f\n",
                    bench_select(client, pool, seed, prompts, batch, std::stoi(flags["--bench-select"])));
      std::cout << line << std::flush;
      return 0;
    }
    mopps::PoolConfig config;
    config.prior_alpha = 1;
    config.prior_beta = 1;
    config.decay = 0.5;
    config.strategy = mopps::Strategy::topk;
    config.seed = seed;
    client.create_pool(pool, config);
    std::vector<std::uint64_t> ids(prompts);
    std::iota(ids.begin(), ids.end(), 0);
    client.register_ids(pool, ids);
    std::string out;
    for (std::uint64_t t = 0; t < steps; t++) {
      mopps::SelectOptions options;
      options.candidate_count = 8 * batch;
      auto chosen = client.select(pool, batch, options);
      out += "step " + std::to_string(t) + ":";
      std::vector<double> successes;
      for (auto id : chosen.ids) {
        out += " " + std::to_string(id);
        successes.push_back(static_cast<double>((7 * id + t) % 9));
      }
      out += "\n";
      std::vector<std::uint32_t> trials(chosen.ids.size(), 8);
      client.update(pool, chosen.ids, successes, mopps::Span<std::uint32_t>(trials));
    }
    auto posteriors = client.get(pool, mopps::Span<std::uint64_t>(ids.data(), std::min<std::size_t>(ids.size(), 5)));
    for (std::size_t i = 0; i < posteriors.ids.size(); i++) {
      out += "posterior " + std::to_string(posteriors.ids[i]) + ": " +
             mopps::format_float32(static_cast<float>(posteriors.alpha[i])) + " " +
             mopps::format_float32(static_cast<float>(posteriors.beta[i])) + "\n";
    }
    out += "invalid batch_size 0: " + code_of([&] {
      mopps::SelectOptions options;
      options.candidate_count = 8;
      client.select(pool, 0, options);
    }) + "\n";
    const std::vector<std::uint64_t> id0{0};
    const std::vector<double> nine{9};
    const std::vector<std::uint32_t> eight{8};
    out += "invalid successes 9 of 8: " +
           code_of([&] { client.update(pool, id0, nine, mopps::Span<std::uint32_t>(eight)); }) + "\n";
    out += "invalid unknown pool: " + code_of([&] { client.get(pool + "-missing", id0); }) + "\n";
    std::cout << out << std::flush;
  } catch (const mopps::Error& e) {
    std::cerr << "mopps-conformance: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
