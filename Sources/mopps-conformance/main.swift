// mopps-conformance in Swift: the request sequence of clients/python/mopps/conformance.py, printing
// the same bytes (see clients/README.md).
//
//   mopps-conformance --endpoint E --pool P --seed S --prompts K --batch B --steps N
//   mopps-conformance --format-float32 < values      (one value per line: the float rule alone)
import MoPPSClient
import MoPPSEngine

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

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

func run(_ flags: [String: String]) throws(MoPPSError) -> String {
  let pool = flags["--pool"]!
  let seed = UInt64(flags["--seed"]!) ?? 0
  let prompts = UInt64(flags["--prompts"]!) ?? 0
  let batch = UInt32(flags["--batch"]!) ?? 0
  let steps = UInt64(flags["--steps"]!) ?? 0
  let client = try MoPPSClient(endpoint: flags["--endpoint"]!)
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
guard args.count == 13, flags.count == 6, required.allSatisfy({ flags[$0] != nil }) else {
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
