import ArgumentParser
import Foundation
import MoPPSEngine
import MoPPSPersistence
import MoPPSServer

struct ImportState: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import-state",
    abstract: "Load the MoPPS reference's state or offline-evaluation JSON into a pool of a state directory.",
    discussion: """
      Works on a state directory with no server running on it (a running server holds its lock; use \
      the Import RPC / mopps.Client.import_state there). State files are {id: [alpha, beta]}; \
      evaluation files (--format eval) are {id: [0/1, ...]} and give alpha = multiplier*successes + \
      alpha0, beta = multiplier*failures + beta0. Numeric ids are used as they are; other keys map to \
      their 64-bit FNV-1a hash and are kept, so export-state writes them back.

      Examples:
        moppsd import-state --state-dir ./mopps-state --pool math --create state.json
        moppsd import-state --state-dir ./mopps-state --pool math --format eval --multiplier 3 eval.json
      """)

  @Option(help: ArgumentHelp("The state directory.", valueName: "dir")) var stateDir: String = "./mopps-state"
  @Option(help: "The pool to load into.") var pool: String
  @Option(help: "state ({id: [alpha, beta]}) or eval ({id: [0/1, ...]}).") var format: String = "state"
  @Option(help: "Evaluation outcomes weight (the reference uses 3).") var multiplier: Double = 3
  @Flag(help: "Create the pool (default config, --seed) if it does not exist.") var create = false
  @Option(help: "Seed of a pool created with --create.") var seed: UInt64 = 0
  @Argument(help: "The JSON file.") var file: String

  func validate() throws {
    guard ["state", "eval"].contains(format) else { throw ValidationError("--format must be state or eval") }
    guard multiplier.isFinite && multiplier >= 0 else { throw ValidationError("--multiplier must be >= 0") }
  }

  func run() throws {
    guard let data = FileManager.default.contents(atPath: file) else {
      throw ValidationError("cannot read \(file)")
    }
    let (store, report) = try StateStore.open(
      engine: Engine(), options: .init(directory: stateDir, fsync: .always))
    defer { store.close() }
    for line in report { Log.info(line) }
    if (try? store.engine.pool(pool)) == nil {
      guard create else {
        throw ValidationError("pool \"\(pool)\" does not exist in \(stateDir); pass --create")
      }
      try store.createPool(pool, config: PoolConfig(seed: seed))
    }
    let config = try store.engine.pool(pool).config
    let entries = try ReferenceFormat.parse(
      data, evaluation: format == "eval", multiplier: multiplier, prior: (config.priorAlpha, config.priorBeta)
    )
    try store.importEntries(pool: pool, entries)
    print(
      "imported \(entries.ids.count) prompts into \(pool) (\(entries.names.filter { !$0.isEmpty }.count) with string keys)"
    )
  }
}

struct ExportState: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export-state",
    abstract: "Write a pool of a state directory as the reference's {id: [alpha, beta]} JSON.",
    discussion: """
      Reads the directory without changing it (also while a server runs on it: it shows the state a \
      restart would recover). Keys are written as they were imported.

      Example:
        moppsd export-state --state-dir ./mopps-state --pool math --out state.json
      """)

  @Option(help: ArgumentHelp("The state directory.", valueName: "dir")) var stateDir: String = "./mopps-state"
  @Option(help: "The pool to export.") var pool: String
  @Option(help: ArgumentHelp("Output file (default: standard output).", valueName: "file")) var out: String?

  func run() throws {
    let (engine, report) = try StateStore.load(directory: stateDir)
    for line in report { Log.warning(line) }
    let p = try engine.pool(pool)
    try p.checkReferenceFormat()
    let posteriors = p.posteriors(nil)
    let json = ReferenceFormat.render(posteriors, names: p.names(of: posteriors.ids))
    if let out {
      guard FileManager.default.createFile(atPath: out, contents: Data(json.utf8)) else {
        throw ValidationError("cannot write \(out)")
      }
    } else {
      print(json, terminator: "")
    }
  }
}
