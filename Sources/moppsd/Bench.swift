import ArgumentParser
import Foundation
import MoPPSBench
import MoPPSEngine
import MoPPSPlatform
import MoPPSServer

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure the engine in process: Beta sampling, select, update, whole-pool select, memory.",
    discussion: """
      Prints one line per measurement on stderr and, with --json, writes them as a JSON object. \
      `make bench` runs this on the release build next to the numpy and reference baselines \
      (scripts/bench.py) and reports ratios. Build with `make build` first: a debug build is many \
      times slower.

      Examples:
        moppsd bench --json /tmp/engine.json
        moppsd bench --quick --skip-10m
        moppsd bench --only select,beta
      """)

  @Option(help: ArgumentHelp("Write the results as JSON to this file.", valueName: "file"))
  var json: String?

  @Flag(help: "Fewer repetitions (for smoke tests).")
  var quick = false

  @Flag(name: .customLong("skip-10m"), help: "Skip the 10 M prompt pool (memory and whole-pool select).")
  var skipTenMillion = false

  @Option(
    help: ArgumentHelp(
      "Only these groups, comma-separated: beta, select, wholepool (default: all).", valueName: "groups"))
  var only: String?

  @Option(
    help: ArgumentHelp(
      "Kernel variants to measure side by side after the default one, comma-separated (default: every one this CPU runs; none: only the default).",
      valueName: "variants"))
  var kernels: String?

  @Flag(help: "Also measure the write-ahead log: updates/s per --fsync policy and recovery of 1 M updates.")
  var durability = false

  @Option(
    help: ArgumentHelp(
      "Scratch directory for --durability (default: a new one under /tmp).", valueName: "dir"))
  var scratch: String?

  func groups() throws -> Set<EngineBenchmarks.Group> {
    guard let only else { return Set(EngineBenchmarks.Group.allCases) }
    var groups = Set<EngineBenchmarks.Group>()
    for name in only.split(separator: ",") {
      guard let g = EngineBenchmarks.Group(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
        throw ValidationError(
          "--only: unknown group \"\(name)\"; use \(EngineBenchmarks.Group.allCases.map(\.rawValue).joined(separator: ", "))"
        )
      }
      groups.insert(g)
    }
    return groups
  }

  func variants() throws -> [Kernel] {
    guard let kernels else { return Kernel.supported }
    if kernels == "none" { return [] }
    return try kernels.split(separator: ",").map { try KernelChoice.resolve(flag: String($0)) }
  }

  func run() throws {
    let bench = EngineBenchmarks(quick: quick) { line in
      Log.info("bench: \(line)")
    }
    var results = try bench.runAll(tenMillion: !skipTenMillion, only: try groups(), kernels: try variants())
    if durability {
      let dir = scratch ?? (NSTemporaryDirectory() + "moppsd-bench-\(getpid())")
      defer { if scratch == nil { try? FileManager.default.removeItem(atPath: dir) } }
      results += try DurabilityBenchmark.run(directory: dir) { Log.info("bench: \($0)") }
    }
    if let json {
      // The kernel and CPU as strings (JSON-escaped by hand: a CPU brand has no quotes or
      // backslashes, but keep the file valid whatever CPUID says).
      func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
          + "\""
      }
      let body =
        ([("kernel", quoted(Kernel.best.name)), ("cpu", quoted(Kernel.cpuName))]
        + results.map { ($0.0, "\($0.1)") }).map { "  \"\($0.0)\": \($0.1)" }.joined(separator: ",\n")
      guard let f = fopen(json, "w") else {
        throw ValidationError("--json \(json): cannot open for writing: \(errnoText(errno))")
      }
      fputs("{\n\(body)\n}\n", f)
      fclose(f)
    }
  }
}

struct Sample: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write Beta(alpha, beta) samples from the engine's sampler as float32 little-endian.",
    discussion: """
      For accuracy tests against scipy (clients/python/tests/test_sampler_accuracy.py).

      Example:
        moppsd sample --alpha 0.5 --beta 2 --count 100000 --seed 1 --out /tmp/s.f32
      """)

  @Option(help: "First shape, in [1e-30, 3.4e38].") var alpha: Double
  @Option(help: "Second shape, in [1e-30, 3.4e38].") var beta: Double
  @Option(help: "Number of samples.") var count: Int = 100_000
  @Option(help: "Random seed.") var seed: UInt64 = 1
  @Option(help: ArgumentHelp("Output file.", valueName: "file")) var out: String
  @Option(name: .customLong("cpu"), help: KernelChoice.help) var cpu: String?

  func validate() throws {
    for (name, v) in [("--alpha", alpha), ("--beta", beta)] where !(v.isFinite && Shapes.isValid(Float(v))) {
      throw ValidationError("\(name) must be a number in [1e-30, 3.4e38] (a Beta shape), got \(v)")
    }
    guard count > 0 else { throw ValidationError("--count must be > 0") }
    _ = try KernelChoice.resolve(flag: cpu)
  }

  func run() throws {
    var rng = VectorRNG(seed: seed, stream: 0, counter: 0)
    let samples = try BetaSampler.samples(
      alpha: [Float](repeating: Float(alpha), count: count),
      beta: [Float](repeating: Float(beta), count: count),
      using: &rng, kernel: try KernelChoice.resolve(flag: cpu))
    guard let f = fopen(out, "wb") else {
      throw ValidationError("--out \(out): cannot open for writing: \(errnoText(errno))")
    }
    defer { fclose(f) }
    let written = samples.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
    guard written == count * 4 else { throw ValidationError("--out \(out): short write") }
  }
}
