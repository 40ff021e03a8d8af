// mopps-conformance in Swift: the request sequence of clients/python/mopps/conformance.py, printing
// the same bytes (see clients/README.md).
//
//   mopps-conformance --endpoint E --pool P --seed S --prompts K --batch B --steps N
//   mopps-conformance --format-float32 < values      (one value per line: the float rule alone)
//
// Optional: --timeout-ms T, --server-key K (CURVE), --bench-select R (see conformance.py).
import MoPPSClient
import MoPPSEngine
import MoPPSPlatform

func standardError(_ text: String) {
  _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}

func code<T>(_ call: () throws(MoPPSError) -> T) -> String {
  do {
    _ = try call()
    return "OK"
  } catch {
    return error.codeName
  }
}

/// R timed Selects of `batch` from `prompts` client-given candidates: the median round trip in µs.
func benchSelect(_ client: MoPPSClient, pool: String, seed: UInt64, prompts: UInt64, batch: UInt32, reps: Int)
  throws(MoPPSError) -> Double
{
  var settings = PoolSettings()
  settings.seed = seed
  _ = try client.createPool(pool, settings)
  let ids = Array(0..<prompts)
  let warm = max(1, reps / 10)
  var times: [Int64] = []
  let clock = ContinuousClock()
  for _ in 0..<(reps + warm) {
    let start = clock.now
    _ = try client.select(pool, batchSize: batch, candidates: ids)
    let elapsed = clock.now - start
    times.append(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
  }
  let timed = times[warm...].sorted()
  return Double(timed[reps / 2]) / 1000
}

func run(_ flags: [String: String]) throws(MoPPSError) -> String {
  let pool = flags["--pool"]!
  let seed = UInt64(flags["--seed"]!) ?? 0
  let prompts = UInt64(flags["--prompts"]!) ?? 0
  let batch = UInt32(flags["--batch"]!) ?? 0
  let steps = UInt64(flags["--steps"]!) ?? 0
  let timeout = Double(flags["--timeout-ms"] ?? "5000").map { $0 / 1000 } ?? 5
  let client = try MoPPSClient(
    endpoint: flags["--endpoint"]!, timeout: timeout, serverKey: flags["--server-key"])
  if let reps = flags["--bench-select"].flatMap({ Int($0) }) {
    let p50 = try benchSelect(client, pool: pool, seed: seed, prompts: prompts, batch: batch, reps: reps)
    return "select p50 us: \(tenths(p50))\n"
  }
  var settings = PoolSettings()
  (settings.priorAlpha, settings.priorBeta, settings.decay) = (1, 1, 0.5)
  settings.strategy = .topK
  settings.seed = seed
  _ = try client.createPool(pool, settings)
  let ids = Array(0..<prompts)
  try client.register(pool, ids: ids)
  var out = ""
  for t in 0..<steps {
    let chosen = try client.select(pool, batchSize: batch, candidateCount: 8 * batch)
    out += "step \(t):" + chosen.ids.map { " \($0)" }.joined() + "\n"
    let successes = chosen.ids.map { Double((7 * $0 + t) % 9) }
    try client.update(
      pool, ids: chosen.ids, successes: successes,
      trials: .perID(Array(repeating: 8, count: chosen.ids.count)))
  }
  let p = try client.get(pool, ids: Array(ids.prefix(5)))
  for i in p.ids.indices {
    out += "posterior \(p.ids[i]): \(formatFloat32(Float(p.alpha[i]))) \(formatFloat32(Float(p.beta[i])))\n"
  }
  out +=
    "invalid batch_size 0: "
    + code { () throws(MoPPSError) in try client.select(pool, batchSize: 0, candidateCount: 8) } + "\n"
  out +=
    "invalid successes 9 of 8: "
    + code { () throws(MoPPSError) in try client.update(pool, ids: [0], successes: [9], trials: .perID([8])) }
    + "\n"
  out +=
    "invalid unknown pool: " + code { () throws(MoPPSError) in try client.get(pool + "-missing", ids: [0]) }
    + "\n"
  return out
}

let args = CommandLine.arguments
if args.count == 2 && args[1] == "--format-float32" {
  while let line = readLine() {
    print(formatFloat32(Float(line.trimmingPrefixAndSuffixSpaces()) ?? .nan))
  }
  exit(0)
}
var flags: [String: String] = [:]
var i = 1
while i + 1 < args.count {
  flags[args[i]] = args[i + 1]
  i += 2
}
let required = ["--endpoint", "--pool", "--seed", "--prompts", "--batch", "--steps"]
let optional = ["--timeout-ms", "--server-key", "--bench-select"]
guard args.count % 2 == 1, required.allSatisfy({ flags[$0] != nil }),
  flags.keys.allSatisfy({ required.contains($0) || optional.contains($0) })
else {
  standardError("usage: \(args[0]) --endpoint E --pool P --seed S --prompts K --batch B --steps N\n")
  exit(64)
}
do {
  print(try run(flags), terminator: "")
} catch {
  standardError("mopps-conformance: \(error)\n")
  exit(1)
}

extension String {
  func trimmingPrefixAndSuffixSpaces() -> Substring {
    let s = drop { $0 == " " || $0 == "\t" || $0 == "\r" }
    return s.prefix(s.count - s.reversed().prefix { $0 == " " || $0 == "\t" || $0 == "\r" }.count)
  }
}

/// One decimal, like printf's %.1f for the positive values printed here.
func tenths(_ value: Double) -> String {
  let scaled = (value * 10).rounded()
  let whole = Int(scaled) / 10
  return "\(whole).\(Int(scaled) % 10)"
}
