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

public struct SelectQuery: Sendable {
  public var batchSize: Int
  public var candidates: CandidateSource
  public var strategy: Strategy?
  public var returnMeans: Bool
  public var returnAllSamples: Bool

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

public struct SelectResult: Sendable, Equatable {
  public var ids: [UInt64]
  public var samples: [Float]
  /// Posterior means α / (α + β) of `ids`, when asked for.
  public var means: [Double]?
  /// Every candidate and its sample, when asked for.
  public var candidateIDs: [UInt64]?
  public var candidateSamples: [Float]?
  public var candidateCount: Int
  public var strategy: Strategy
  public var selectIndex: UInt64
}

/// One step's rollout outcomes: prompt `ids[i]` had `successes[i]` of `trials[i]`.
public struct Outcomes: Sendable {
  public var ids: [UInt64]
  public var successes: [Double]
  public var trials: [Double]

  public init(ids: [UInt64], successes: [Double], trials: [Double]) {
    self.ids = ids
    self.successes = successes
    self.trials = trials
  }
}

public struct UpdateResult: Sendable, Equatable {
  public var updated: Int
  /// The request id had already been applied; nothing changed.
  public var duplicate: Bool
  public var updateIndex: UInt64
  /// Posteriors after the update, aligned with the request's ids (empty for a duplicate).
  public var alpha: [Double]
  public var beta: [Double]
}

public struct Posteriors: Sendable, Equatable {
  public var ids: [UInt64]
  public var alpha: [Double]
  public var beta: [Double]
  public var known: [Bool]
}

public struct RegisterResult: Sendable, Equatable {
  public var added: Int
  public var existing: Int
  public var promptCount: Int
}

public struct PoolInfo: Sendable, Equatable {
  public var name: String
  public var config: PoolConfig
  public var promptCount: Int
  public var selectCount: UInt64
  public var updateCount: UInt64
}

/// The mutable part of a pool. Posteriors are Float32 pairs: 8 bytes a prompt, exact for integer
/// counts up to 2^24, and the layout the lock-free store will pack into one 64-bit word.
struct PoolState: ~Copyable {
  var slotOf: [UInt64: Int32] = [:]
  var ids: [UInt64] = []
  var alpha: [Float] = []
  var beta: [Float] = []
  /// Slots in the current epoch's random order; `order[cursor...]` are not yet drawn this epoch.
  var order: [Int32] = []
  var cursor = 0
  var epochRNG: Xoshiro256
  var selectCount: UInt64 = 0
  var updateCount: UInt64 = 0
  var recentRequests = RecentSet(capacity: 4096)

  init(seed: UInt64) {
    epochRNG = Xoshiro256(seed: seed, stream: RandomStream.epoch.rawValue)
  }

  mutating func insert(_ id: UInt64, alpha a: Float, beta b: Float) {
    let slot = Int32(ids.count)
    slotOf[id] = slot
    ids.append(id)
    alpha.append(a)
    beta.append(b)
    order.append(slot)
  }

  /// Draws `count` distinct slots, continuing the current epoch and starting a new shuffled one when
  /// it runs out; a prompt drawn at the end of one epoch is not drawn again in the same request.
  mutating func draw(_ count: Int) -> [Int32] {
    var out: [Int32] = []
    out.reserveCapacity(count)
    var taken = Set<Int32>()
    while out.count < count {
      if cursor == order.count {
        order.shuffle(using: &epochRNG)
        cursor = 0
      }
      // Move the next slot not yet taken to the cursor; skipped ones stay in this epoch.
      var i = cursor
      while i < order.count, taken.contains(order[i]) { i += 1 }
      if i == order.count {
        // Only slots taken by this request remain: the epoch is exhausted for it.
        cursor = order.count
        continue
      }
      order.swapAt(i, cursor)
      out.append(order[cursor])
      taken.insert(order[cursor])
      cursor += 1
    }
    return out
  }
}

/// A bounded set of recently applied request ids (oldest forgotten first).
struct RecentSet {
  private var members: Set<String> = []
  private var ring: [String] = []
  private var next = 0
  let capacity: Int

  init(capacity: Int) { self.capacity = capacity }

  func contains(_ key: String) -> Bool { members.contains(key) }

  mutating func insert(_ key: String) {
    if ring.count < capacity {
      ring.append(key)
    } else {
      members.remove(ring[next])
      ring[next] = key
      next = (next + 1) % capacity
    }
    members.insert(key)
  }
}

/// A named set of prompts with one Beta posterior each.
public final class Pool: Sendable {
  public let name: String
  public let config: PoolConfig
  let state: Mutex<PoolState>

  init(name: String, config: PoolConfig) {
    self.name = name
    self.config = config
    state = Mutex(PoolState(seed: config.seed))
  }

  public var info: PoolInfo {
    state.withLock { s in
      PoolInfo(
        name: name, config: config, promptCount: s.ids.count, selectCount: s.selectCount,
        updateCount: s.updateCount)
    }
  }

  // MARK: Register

  /// Adds prompts; ids already present keep their posterior. `priors` holds one (α, β) per id.
  public func register(_ ids: [UInt64], priors: (alpha: [Double], beta: [Double])? = nil) throws(EngineError)
    -> RegisterResult
  {
    try Validate.distinct(ids, "ids")
    if let priors {
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
    return state.withLock { s in
      var added = 0
      for (i, id) in ids.enumerated() where s.slotOf[id] == nil {
        let a = priors.map { Float($0.alpha[i]) } ?? Float(config.priorAlpha)
        let b = priors.map { Float($0.beta[i]) } ?? Float(config.priorBeta)
        s.insert(id, alpha: a, beta: b)
        added += 1
      }
      return RegisterResult(added: added, existing: ids.count - added, promptCount: s.ids.count)
    }
  }

  // MARK: Update

  /// Applies α ← λ·α + (1−λ)·α0 + s and β ← λ·β + (1−λ)·β0 + (k − s) to each listed prompt (unseen
  /// ids start from the prior); other prompts are untouched. All input is checked before anything
  /// changes. A non-empty `requestID` already applied makes this a no-op reported as a duplicate.
  public func update(_ outcomes: Outcomes, requestID: String = "") throws(EngineError) -> UpdateResult {
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

    let lambda = config.decay
    let alphaPull = (1 - lambda) * config.priorAlpha
    let betaPull = (1 - lambda) * config.priorBeta
    return state.withLock { st in
      if !requestID.isEmpty && st.recentRequests.contains(requestID) {
        return UpdateResult(
          updated: 0, duplicate: true, updateIndex: st.updateCount, alpha: [], beta: [])
      }
      var newAlpha = [Double](repeating: 0, count: ids.count)
      var newBeta = [Double](repeating: 0, count: ids.count)
      for (i, id) in ids.enumerated() {
        let slot: Int
        if let known = st.slotOf[id] {
          slot = Int(known)
        } else {
          slot = st.ids.count
          st.insert(id, alpha: Float(config.priorAlpha), beta: Float(config.priorBeta))
        }
        let s = outcomes.successes[i]
        let a = Float(lambda * Double(st.alpha[slot]) + alphaPull + s)
        let b = Float(lambda * Double(st.beta[slot]) + betaPull + (outcomes.trials[i] - s))
        // Float rounding can never make a positive shape zero here: λ·α ≥ 0 and the pull or the
        // counts keep the sum ≥ min(α0, the previous value) > 0.
        st.alpha[slot] = a
        st.beta[slot] = b
        newAlpha[i] = Double(a)
        newBeta[i] = Double(b)
      }
      if !requestID.isEmpty { st.recentRequests.insert(requestID) }
      let index = st.updateCount
      st.updateCount += 1
      return UpdateResult(
        updated: ids.count, duplicate: false, updateIndex: index, alpha: newAlpha, beta: newBeta)
    }
  }

  // MARK: Get

  /// Posteriors of `ids` (the prior for unseen ones), or of every registered prompt when `ids` is nil.
  public func posteriors(_ ids: [UInt64]?) -> Posteriors {
    state.withLock { s in
      guard let ids else {
        return Posteriors(
          ids: s.ids, alpha: s.alpha.map(Double.init), beta: s.beta.map(Double.init),
          known: [Bool](repeating: true, count: s.ids.count))
      }
      var out = Posteriors(ids: ids, alpha: [], beta: [], known: [])
      out.alpha.reserveCapacity(ids.count)
      out.beta.reserveCapacity(ids.count)
      out.known.reserveCapacity(ids.count)
      for id in ids {
        if let slot = s.slotOf[id] {
          out.alpha.append(Double(s.alpha[Int(slot)]))
          out.beta.append(Double(s.beta[Int(slot)]))
          out.known.append(true)
        } else {
          out.alpha.append(config.priorAlpha)
          out.beta.append(config.priorBeta)
          out.known.append(false)
        }
      }
      return out
    }
  }
}
