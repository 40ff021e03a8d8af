import Synchronization

/// Where a select's candidates come from.
public enum CandidateSource: Sendable, Equatable {
  /// Ids chosen by the client (unseen ids use the prior).
  case given([UInt64])
  /// `count` registered prompts drawn by the pool, epoch by epoch without replacement.
  case drawn(count: Int)
  /// Every registered prompt.
  case all
}

/// The arguments of one Select: how many prompts to pick, from which candidates, and by which
/// strategy.
public struct SelectQuery: Sendable {
  /// How many prompts to pick (B): at least 1 and at most the number of candidates.
  public var batchSize: Int
  /// Where the candidates come from.
  public var candidates: CandidateSource
  /// The strategy for this select; nil uses the pool's (`PoolConfig.strategy`).
  public var strategy: Strategy?
  /// Also return the posterior mean of each chosen prompt (`SelectResult.means`).
  public var returnMeans: Bool
  /// Also return every candidate with its sample (`SelectResult.candidateIDs`/`candidateSamples`).
  public var returnAllSamples: Bool

  /// A query for `batchSize` prompts from `candidates`; the options default to the pool's strategy and
  /// no extra output.
  public init(
    batchSize: Int, candidates: CandidateSource, strategy: Strategy? = nil, returnMeans: Bool = false,
    returnAllSamples: Bool = false
  ) {
    self.batchSize = batchSize
    self.candidates = candidates
    self.strategy = strategy
    self.returnMeans = returnMeans
    self.returnAllSamples = returnAllSamples
  }
}

/// The reply to a Select: the chosen prompts in the strategy's order, and what they were chosen by.
public struct SelectResult: Sendable, Equatable {
  /// The chosen prompts (B of them).
  public var ids: [UInt64]
  /// The sampled success rate of each of `ids`.
  public var samples: [Float]
  /// Posterior means α / (α + β) of `ids`, when asked for.
  public var means: [Double]?
  /// Every candidate and its sample, when asked for.
  public var candidateIDs: [UInt64]?
  /// The sample of each of `candidateIDs`, when asked for.
  public var candidateSamples: [Float]?
  /// How many candidates the select chose among.
  public var candidateCount: Int
  /// The strategy that chose (the query's or the pool's).
  public var strategy: Strategy
  /// The pool's select counter before this select: with the pool's seed it keys the random streams,
  /// so the same index, seed and kernel give the same samples.
  public var selectIndex: UInt64

  /// A result from its parts (the engine builds them; the protocol layer decodes them).
  public init(
    ids: [UInt64], samples: [Float], means: [Double]?, candidateIDs: [UInt64]?, candidateSamples: [Float]?,
    candidateCount: Int, strategy: Strategy, selectIndex: UInt64
  ) {
    self.ids = ids
    self.samples = samples
    self.means = means
    self.candidateIDs = candidateIDs
    self.candidateSamples = candidateSamples
    self.candidateCount = candidateCount
    self.strategy = strategy
    self.selectIndex = selectIndex
  }
}

/// One step's rollout outcomes: prompt `ids[i]` had `successes[i]` of `trials[i]`.
public struct Outcomes: Sendable {
  /// The prompts the step rolled out (distinct).
  public var ids: [UInt64]
  /// Successes of each prompt, in [0, `trials[i]`] (fractional rewards allowed).
  public var successes: [Double]
  /// Rollouts of each prompt, > 0.
  public var trials: [Double]
  /// The training step these outcomes belong to: Updates with the same step are one step for the
  /// per-step parts of the dps and greso rules; nil: a step of its own. MoPPS pools ignore it.
  public var step: UInt64?

  /// Outcomes of `ids`, aligned by position.
  public init(ids: [UInt64], successes: [Double], trials: [Double], step: UInt64? = nil) {
    self.ids = ids
    self.successes = successes
    self.trials = trials
    self.step = step
  }
}

/// The reply to an Update.
public struct UpdateResult: Sendable, Equatable {
  /// How many prompts were updated (0 for a duplicate).
  public var updated: Int
  /// The request id had already been applied; nothing changed.
  public var duplicate: Bool
  /// The pool's update counter before this update (its current value for a duplicate).
  public var updateIndex: UInt64
  /// Posteriors after the update, aligned with the request's ids (empty for a duplicate).
  public var alpha: [Double]
  /// β after the update, aligned with the request's ids (empty for a duplicate).
  public var beta: [Double]
}

/// Posteriors of some prompts, aligned by position; unknown ids carry the pool's prior.
public struct Posteriors: Sendable, Equatable {
  /// The prompts asked for (or every registered prompt, in slot order).
  public var ids: [UInt64]
  /// α of each of `ids`.
  public var alpha: [Double]
  /// β of each of `ids`.
  public var beta: [Double]
  /// Whether each of `ids` is registered (false: the values are the prior).
  public var known: [Bool]
  /// dps: π for the next step, 3 per id (unsolved, partly solved, solved); empty otherwise.
  public var dpsPredicted: [Double] = []
  /// greso: each id's easy run; empty otherwise.
  public var gresoEasyRun: [UInt32] = []
  /// greso: each id's hard run; empty otherwise.
  public var gresoHardRun: [UInt32] = []
  /// pools: each id's latest group mean (NaN: not observed); empty otherwise.
  public var lastMean: [Double] = []
}

/// A pool's strategy state in numbers (PoolInfo).
public struct StrategyStatus: Sendable, Equatable {
  /// Training steps counted (dps, greso, pools; 0 for MoPPS pools, whose update is per prompt).
  public var steps: UInt64 = 0
  /// greso: the current p_easy and p_hard (0 for the other strategies).
  public var gresoPEasy: Double = 0
  public var gresoPHard: Double = 0
  /// Store bytes each prompt adds: id and posterior 16, id map at most 8, strategy state.
  public var bytesPerPrompt: Double = 0

  public init() {}
}

/// The reply to a Register.
public struct RegisterResult: Sendable, Equatable {
  /// How many ids were new.
  public var added: Int
  /// How many were present already (their posteriors unchanged).
  public var existing: Int
  /// The pool's prompt count afterwards.
  public var promptCount: Int

  /// A result from its parts.
  public init(added: Int, existing: Int, promptCount: Int) {
    self.added = added
    self.existing = existing
    self.promptCount = promptCount
  }
}

/// A pool's name, configuration and counters at one moment.
public struct PoolInfo: Sendable, Equatable {
  /// The pool's name.
  public var name: String
  /// Its configuration (fixed at creation).
  public var config: PoolConfig
  /// How many prompts are registered.
  public var promptCount: Int
  /// How many selects it has answered (the next select's index).
  public var selectCount: UInt64
  /// How many updates it has applied (the next update's index).
  public var updateCount: UInt64
  /// The strategy's state in numbers.
  public var state = StrategyStatus()
}

/// State only writers touch, under the pool's writer lock: new ids, retried-request bookkeeping and
/// the epoch order of server-drawn candidates.
struct WriterState {
  /// Slots in the current epoch's random order, built on the first drawn select (so pools that never
  /// use drawn candidates spend no memory on it); `order[cursor...]` are not yet drawn this epoch.
  var order: [Int32]? = nil
  var cursor = 0
  var epochRNG: Xoshiro256
  /// Recently applied Update request ids and the fingerprint of each one's content (0: unknown,
  /// recovered from a state written before fingerprints were kept).
  var recentRequests: RecentMap<UInt64>
  /// Recently answered Select request ids and their replies.
  var recentSelects: RecentMap<SelectMemo>
  /// Original string keys of imported prompts whose key was not a plain decimal id.
  var names: [UInt64: String] = [:]

  init(seed: UInt64, windows: Engine.Windows) {
    epochRNG = Xoshiro256(seed: seed, stream: RandomStream.epoch.rawValue)
    recentRequests = RecentMap(capacity: windows.updates)
    recentSelects = RecentMap(capacity: windows.selects)
  }

  /// Whether an Update with this id and content fingerprint was applied already; a reused id with
  /// other content is refused.
  func replay(ofUpdate requestID: String, _ fingerprint: UInt64) throws(MoPPSError) -> Replay {
    guard let seen = recentRequests[requestID] else { return .fresh }
    guard seen == fingerprint || seen == 0 else { throw .reusedRequestID(requestID, "Update") }
    return .duplicate
  }

  /// Draws `count` distinct slots of [0, total), continuing the current epoch and starting a new
  /// shuffled one when it runs out; a prompt drawn at the end of one epoch is not drawn again in the
  /// same request. What it changes is recorded in `undo`, so that a draw the server could not log
  /// can be taken back exactly.
  mutating func draw(_ count: Int, total: Int, undo: inout DrawUndo) -> [Int32] {
    if order == nil {
      order = (0..<Int32(total)).shuffled(using: &epochRNG)
      cursor = 0
    }
    var out: [Int32] = []
    out.reserveCapacity(count)
    var taken = Set<Int32>()
    while out.count < count {
      if cursor == order!.count {
        // Copy-on-write: the copy is made only here, once per epoch.
        if undo.beforeShuffle == nil { undo.beforeShuffle = order }
        order!.shuffle(using: &epochRNG)
        cursor = 0
      }
      // Move the next slot not yet taken to the cursor; skipped ones stay in this epoch.
      var i = cursor
      while i < order!.count, taken.contains(order![i]) { i += 1 }
      if i == order!.count {
        cursor = order!.count
        continue
      }
      order!.swapAt(i, cursor)
      if undo.beforeShuffle == nil { undo.swaps.append((i, cursor)) }
      out.append(order![cursor])
      taken.insert(order![cursor])
      cursor += 1
    }
    return out
  }
}

/// What a draw changed in the epoch state, to put it back.
struct DrawUndo {
  var orderWasNil: Bool
  var cursor: Int
  var rng: [UInt64]
  /// Swaps made before any reshuffle, in order.
  var swaps: [(Int, Int)] = []
  /// The order as it was when the epoch ran out (swaps before it included).
  var beforeShuffle: [Int32]? = nil

  init(_ w: WriterState) {
    orderWasNil = w.order == nil
    cursor = w.cursor
    rng = w.epochRNG.state
  }

  func revert(_ w: inout WriterState) {
    if orderWasNil {
      w.order = nil
    } else {
      if let beforeShuffle { w.order = beforeShuffle }
      for (i, j) in swaps.reversed() { w.order!.swapAt(i, j) }
    }
    w.cursor = cursor
    w.epochRNG.state = rng
  }
}

/// A named set of prompts with one Beta posterior each.
///
/// Concurrency: selects, gets and updates of known prompts never take a lock (see `PromptTable`);
/// adding prompts, updates that carry a request id, and server-drawn candidates serialise on the
/// writer lock, which readers never wait for.
public final class Pool: Sendable {
  /// The pool's name (letters, digits, '_' and '-', at most 128 bytes).
  public let name: String
  /// The pool's MoPPS parameters, fixed at creation.
  public let config: PoolConfig
  /// The kernel variant this pool samples and selects with (its engine's).
  public let kernel: Kernel
  let table: PromptTable
  let writer: WriterLock<WriterState>
  /// dps, greso and pools state. Lock order: this lock before `writer`.
  let strategyState: WriterLock<StrategyState>
  let selects = Atomic<UInt64>(0)
  let updates = Atomic<UInt64>(0)
  private let selectsLogged = Atomic<UInt64>(0)

  /// The select count the server last wrote to its log for this pool object (bookkeeping of the
  /// background thread that logs counters; a pool replaced by a Restore starts its own).
  public var loggedSelectCount: UInt64 {
    // Relaxed: read and written by one thread at a time, under the pool's mutation lock.
    get { selectsLogged.load(ordering: .relaxed) }
    set { selectsLogged.store(newValue, ordering: .relaxed) }
  }

  /// `promptLimit` below `PromptTable.capacity` is for tests of a full pool.
  init(
    name: String, config: PoolConfig, windows: Engine.Windows = Engine.Windows(), kernel: Kernel = .best,
    promptLimit: Int = PromptTable.capacity
  ) {
    self.name = name
    self.config = config
    self.kernel = kernel
    table = PromptTable(limit: promptLimit)
    writer = WriterLock(WriterState(seed: config.seed, windows: windows))
    strategyState = WriterLock(StrategyState(config))
  }

  /// The pool's name, configuration and counters now.
  public var info: PoolInfo {
    // Relaxed: statistics, no data is read through these counts.
    var info = PoolInfo(
      name: name, config: config, promptCount: table.count, selectCount: selects.load(ordering: .relaxed),
      updateCount: updates.load(ordering: .relaxed))
    info.state.bytesPerPrompt = Double(24 + StrategyState.bytesPerPrompt(config.strategy))
    if config.strategy.hasOwnState {
      strategyState.withLock { s in
        info.state.steps = s.steps
        if config.strategy == .greso {
          info.state.gresoPEasy = s.pEasy
          info.state.gresoPHard = s.pHard
        }
      }
    }
    return info
  }

  /// Bytes of posterior storage and id map (not counting the pool object itself).
  public var allocatedBytes: Int { writer.withLock { _ in table.allocatedBytes } }

  /// Adds a prompt that is not in the table (writer lock held, room checked by `ensureRoom`) and
  /// puts it at the end of the current epoch's order, so that drawn selects reach it this epoch.
  /// Returns its slot. Callers call `table.reclaim()` once after their last append.
  @discardableResult
  func append(_ id: UInt64, alpha: Float, beta: Float, _ w: inout WriterState) -> Int {
    let slot = table.count
    table.append(id, alpha: alpha, beta: beta)
    w.order?.append(Int32(slot))
    return slot
  }

  /// Refuses (RESOURCE_EXHAUSTED), before anything changes, a request that would add more prompts
  /// than the pool holds. `ids` are the request's distinct ids, of which `isNew` tells the ones not
  /// in the pool; they are only counted when adding all of them would not fit.
  func ensureRoom(_ ids: [UInt64], isNew: (Int) -> Bool) throws(MoPPSError) {
    let count = table.count
    guard count + ids.count > table.limit else { return }
    let added = ids.indices.reduce(0) { $0 + (isNew($1) ? 1 : 0) }
    guard count + added > table.limit else { return }
    throw MoPPSError(
      .resourceExhausted,
      "pool \"\(name)\" holds \(count) prompts and this request would add \(added), over the \(table.limit) "
        + "a pool can hold; spread the prompts over several pools")
  }

  /// Inserts the ids of `ids` that are not in the table (writer lock held), filling `slots` (where
  /// they are -1) with the new slots.
  func insertMissing(_ ids: [UInt64], _ slots: inout [Int], _ w: inout WriterState)
    throws(MoPPSError)
  {
    // Another writer may have added some since the lock-free lookup.
    try ensureRoom(ids) { slots[$0] < 0 && table.writerLookup(ids[$0]) == nil }
    for i in ids.indices where slots[i] < 0 {
      if let slot = table.writerLookup(ids[i]) {
        slots[i] = slot
      } else {
        slots[i] = append(ids[i], alpha: Float(config.priorAlpha), beta: Float(config.priorBeta), &w)
      }
    }
    table.reclaim()
  }

  // MARK: Register

  /// Adds prompts; ids already present keep their posterior. `priors` holds one (α, β) per id.
  public func register(_ ids: [UInt64], priors: (alpha: [Double], beta: [Double])? = nil) throws(MoPPSError)
    -> RegisterResult
  {
    try validateRegister(ids, priors: priors)
    return try writer.withLock { (w) throws(MoPPSError) in
      try ensureRoom(ids) { table.writerLookup(ids[$0]) == nil }
      var added = 0
      for (i, id) in ids.enumerated() where table.writerLookup(id) == nil {
        let a = priors.map { Float($0.alpha[i]) } ?? Float(config.priorAlpha)
        let b = priors.map { Float($0.beta[i]) } ?? Float(config.priorBeta)
        append(id, alpha: a, beta: b, &w)
        added += 1
      }
      table.reclaim()
      return RegisterResult(added: added, existing: ids.count - added, promptCount: table.count)
    }
  }

  /// Checks a Register without changing anything; returns how many of `ids` it would add.
  public func checkRegister(_ ids: [UInt64], priors: (alpha: [Double], beta: [Double])?) throws(MoPPSError)
    -> Int
  {
    try validateRegister(ids, priors: priors)
    let unknown = table.withLookup { look in ids.map { look($0) == nil } }
    try ensureRoom(ids) { unknown[$0] }
    return unknown.reduce(0) { $0 + ($1 ? 1 : 0) }
  }

  private func validateRegister(_ ids: [UInt64], priors: (alpha: [Double], beta: [Double])?)
    throws(MoPPSError)
  {
    try Validate.distinct(ids, "ids")
    guard let priors else { return }
    guard priors.alpha.count == ids.count, priors.beta.count == ids.count else {
      throw .invalid(
        "prior_alpha/prior_beta: need one value per id (\(ids.count)), got \(priors.alpha.count)/\(priors.beta.count)"
      )
    }
    for i in ids.indices {
      try Validate.positive(priors.alpha[i], "prior_alpha[\(i)]")
      try Validate.positive(priors.beta[i], "prior_beta[\(i)]")
    }
  }

  /// How many of `ids` are not in the pool (what adding them would grow it by).
  public func unknownCount(_ ids: [UInt64]) -> Int {
    table.withLookup { look in ids.reduce(0) { $0 + (look($1) == nil ? 1 : 0) } }
  }

  // MARK: Update

  /// Applies α ← λ·α + (1−λ)·α0 + s and β ← λ·β + (1−λ)·β0 + (k − s) to each listed prompt (unseen
  /// ids start from the prior, or are NOT_FOUND with `strict_ids`); other prompts are untouched. All
  /// input is checked before anything changes. A non-empty `requestID` already applied with the same
  /// content makes this a no-op reported as a duplicate; with other content it is refused.
  public func update(_ outcomes: Outcomes, requestID: String = "") throws(MoPPSError) -> UpdateResult {
    if config.strategy.hasOwnState { return try strategyUpdate(outcomes, requestID: requestID) }
    var slots = try checkedSlots(outcomes)
    let ids = outcomes.ids
    if requestID.isEmpty {
      if slots.contains(-1) {
        try writer.withLock { (w) throws(MoPPSError) in try insertMissing(ids, &slots, &w) }
      }
      return apply(outcomes, slots)
    }
    let fingerprint = Fingerprint.of(outcomes)
    // Check, apply and remember under one lock so that concurrent retries apply once.
    return try writer.withLock { (w) throws(MoPPSError) in
      if try w.replay(ofUpdate: requestID, fingerprint) == .duplicate {
        return UpdateResult(
          updated: 0, duplicate: true, updateIndex: updates.load(ordering: .relaxed), alpha: [], beta: [])
      }
      try insertMissing(ids, &slots, &w)
      let result = apply(outcomes, slots)
      w.recentRequests.insert(requestID, fingerprint)
      return result
    }
  }

  /// Everything `update` would refuse, without changing anything, and whether its request id makes
  /// it a duplicate: the store checks an Update this way before logging it.
  public func check(_ outcomes: Outcomes, requestID: String = "") throws(MoPPSError) -> Replay {
    let slots = try checkedSlots(outcomes)
    if config.strategy.hasOwnState {
      _ = try strategyState.withLock { (s) throws(MoPPSError) in try s.opensStep(outcomes.step) }
    }
    guard !requestID.isEmpty else {
      try ensureRoom(outcomes.ids) { slots[$0] < 0 }
      return .fresh
    }
    let fingerprint = Fingerprint.of(outcomes)
    return try writer.withLock { (w) throws(MoPPSError) in
      // A duplicate changes nothing, so only a fresh update needs room.
      let replay = try w.replay(ofUpdate: requestID, fingerprint)
      if replay == .fresh { try ensureRoom(outcomes.ids) { slots[$0] < 0 } }
      return replay
    }
  }

  /// Validates an Update's arrays and returns each id's slot (-1 where not yet in the table).
  func checkedSlots(_ outcomes: Outcomes) throws(MoPPSError) -> [Int] {
    let ids = outcomes.ids
    guard !ids.isEmpty else { throw .invalid("ids: empty update") }
    guard outcomes.successes.count == ids.count else {
      throw .invalid("successes: need one value per id (\(ids.count)), got \(outcomes.successes.count)")
    }
    guard outcomes.trials.count == ids.count else {
      throw .invalid("trials: need one value per id (\(ids.count)), got \(outcomes.trials.count)")
    }
    for i in ids.indices {
      let s = outcomes.successes[i]
      let k = outcomes.trials[i]
      guard k.isFinite, k > 0 else { throw .invalid("trials[\(i)] must be > 0, got \(k) (id \(ids[i]))") }
      guard s.isFinite, s >= 0, s <= k else {
        throw .invalid("successes[\(i)] must be in [0, trials[\(i)] = \(k)], got \(s) (id \(ids[i]))")
      }
    }
    try Validate.distinct(ids, "ids")
    let slots = table.withLookup { look in ids.map { look($0) ?? -1 } }
    if config.strictIDs, let i = slots.firstIndex(of: -1) {
      throw MoPPSError(
        .notFound,
        "ids[\(i)] = \(ids[i]) is not registered in pool \"\(name)\" (the pool has strict_ids): register it "
          + "first, or check that the trainer reports the ids it was given")
    }
    return slots
  }

  func apply(_ outcomes: Outcomes, _ slots: [Int]) -> UpdateResult {
    let lambda = config.decay
    let alphaPull = (1 - lambda) * config.priorAlpha
    let betaPull = (1 - lambda) * config.priorBeta
    var newAlpha = [Double](repeating: 0, count: slots.count)
    var newBeta = [Double](repeating: 0, count: slots.count)
    for i in slots.indices {
      let s = outcomes.successes[i]
      let f = outcomes.trials[i] - s
      // Computed in Double, stored as Float32. The result stays ≥ Shapes.minimum: λ·α ≥ 0 and the
      // pull or the counts keep the sum ≥ min(α0, the previous value). It saturates at
      // Shapes.maximum rather than rounding to inf.
      let (a, b) = table.modify(slots[i]) { a, b in
        (
          Float(min(lambda * Double(a) + alphaPull + s, Double(Shapes.maximum))),
          Float(min(lambda * Double(b) + betaPull + f, Double(Shapes.maximum)))
        )
      }
      newAlpha[i] = Double(a)
      newBeta[i] = Double(b)
    }
    // Relaxed: a statistics counter and index; no memory is published through it.
    let index = updates.wrappingAdd(1, ordering: .relaxed).oldValue
    return UpdateResult(
      updated: slots.count, duplicate: false, updateIndex: index, alpha: newAlpha, beta: newBeta)
  }

  // MARK: Get

  /// Posteriors of `ids` (the prior for unseen ones), or of every registered prompt when `ids` is nil.
  public func posteriors(_ ids: [UInt64]?) -> Posteriors {
    if config.strategy.hasOwnState { return strategyPosteriors(ids) }
    return betaPosteriors(ids)
  }

  /// The Beta posteriors alone.
  func betaPosteriors(_ ids: [UInt64]?) -> Posteriors {
    guard let ids else {
      let n = table.count
      var out = Posteriors(ids: [], alpha: [], beta: [], known: [Bool](repeating: true, count: n))
      out.ids.reserveCapacity(n)
      out.alpha.reserveCapacity(n)
      out.beta.reserveCapacity(n)
      for slot in 0..<n {
        let p = table.posterior(slot)
        out.ids.append(table.id(slot))
        out.alpha.append(Double(p.alpha))
        out.beta.append(Double(p.beta))
      }
      return out
    }
    var out = Posteriors(ids: ids, alpha: [], beta: [], known: [])
    out.alpha.reserveCapacity(ids.count)
    out.beta.reserveCapacity(ids.count)
    out.known.reserveCapacity(ids.count)
    table.withLookup { look in
      for id in ids {
        if let slot = look(id) {
          let p = table.posterior(slot)
          out.alpha.append(Double(p.alpha))
          out.beta.append(Double(p.beta))
          out.known.append(true)
        } else {
          out.alpha.append(config.priorAlpha)
          out.beta.append(config.priorBeta)
          out.known.append(false)
        }
      }
    }
    return out
  }
}
