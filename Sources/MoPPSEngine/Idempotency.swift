/// A 64-bit digest of a request's content, the same in every process and on every run (Swift's
/// `Hasher` is seeded per process, so it cannot be used for what is logged and recovered). Two
/// requests under one request id are "the same" exactly when their digests agree.
public struct Fingerprint: Sendable, Equatable {
  /// The digest of everything added so far (an empty digest is the FNV-1a offset basis).
  public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

  /// An empty digest.
  public init() {}

  /// Mixes one word in: multiply-xorshift (the finaliser of splitmix64) keeps every input bit
  /// influencing every output bit, so reordered or changed arrays give different digests.
  public mutating func add(_ word: UInt64) { value = Self.mix(value ^ word) }

  /// Arrays are mixed in four independent lanes, then the lanes folded in: one chain of dependent
  /// multiplies would run at the multiplier's latency rather than its throughput, and a keyed
  /// Select digests its thousands of candidates.
  public mutating func add(_ words: [UInt64]) {
    add(UInt64(words.count))
    words.withUnsafeBufferPointer { w in
      var lanes: (UInt64, UInt64, UInt64, UInt64) = (1, 2, 3, 4)
      var i = 0
      while i + 4 <= w.count {
        lanes.0 = Self.mix(lanes.0 ^ w[i])
        lanes.1 = Self.mix(lanes.1 ^ w[i + 1])
        lanes.2 = Self.mix(lanes.2 ^ w[i + 2])
        lanes.3 = Self.mix(lanes.3 ^ w[i + 3])
        i += 4
      }
      while i < w.count {
        lanes.0 = Self.mix(lanes.0 ^ w[i])
        i += 1
      }
      add(lanes.0)
      add(lanes.1)
      add(lanes.2)
      add(lanes.3)
    }
  }

  /// Mixes in an array of doubles by their bit patterns (so 0.0 and -0.0 differ, and every NaN
  /// payload is its own value).
  public mutating func add(_ values: [Double]) {
    add(values.map(\.bitPattern))
  }

  @inline(__always)
  static func mix(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9e37_79b9_7f4a_7c15
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
  }

  /// The digest of an Update's content (ids, successes and trials, in order).
  public static func of(_ outcomes: Outcomes) -> UInt64 {
    var f = Fingerprint()
    f.add(outcomes.ids)
    f.add(outcomes.successes)
    f.add(outcomes.trials)
    return f.value
  }

  /// The digest of a Select's arguments: everything that decides its reply except the wire format.
  public static func of(_ query: SelectQuery) -> UInt64 {
    var f = Fingerprint()
    f.add(UInt64(query.batchSize))
    switch query.candidates {
    case .given(let ids):
      f.add(1)
      f.add(ids)
    case .drawn(let count):
      f.add(2)
      f.add(UInt64(count))
    case .all: f.add(3)
    }
    // By name, so that adding strategies never changes the digest of a logged request.
    f.add(UInt64((query.strategy?.rawValue ?? "").utf8.count))
    for byte in (query.strategy?.rawValue ?? "").utf8 { f.add(UInt64(byte)) }
    f.add(query.returnMeans ? 1 : 0)
    f.add(query.returnAllSamples ? 1 : 0)
    return f.value
  }
}

/// A remembered Select reply: what a later Select with the same request id gets back.
public struct SelectMemo: Sendable, Equatable {
  /// The Select's request id.
  public var requestID: String
  /// `Fingerprint.of(_:)` of the Select's query: a retry must match it.
  public var fingerprint: UInt64
  /// The reply the first Select got.
  public var result: SelectResult

  /// A memo of `result`, the reply to the Select `requestID` whose query digests to `fingerprint`.
  public init(requestID: String, fingerprint: UInt64, result: SelectResult) {
    self.requestID = requestID
    self.fingerprint = fingerprint
    self.result = result
  }
}

/// A bounded map from recent request ids to a value (oldest forgotten first).
struct RecentMap<Value> {
  private var members: [String: Value] = [:]
  private var ring: [String] = []
  private var next = 0
  let capacity: Int

  init(capacity: Int) { self.capacity = max(1, capacity) }

  subscript(key: String) -> Value? { members[key] }

  /// Keys oldest first.
  var ordered: [String] { ring.count < capacity ? ring : Array(ring[next...] + ring[..<next]) }

  /// Keys and values oldest first.
  var orderedEntries: [(key: String, value: Value)] { ordered.map { ($0, members[$0]!) } }

  /// What an insert of a new key changed, for `undoInsert`.
  struct Insertion {
    var key: String
    /// The oldest entry, forgotten to make room (nil while the map was not full).
    var evicted: (key: String, value: Value)?
  }

  /// Adds a key that is not present, forgetting the oldest one when full.
  @discardableResult
  mutating func insert(_ key: String, _ value: Value) -> Insertion? {
    if members[key] != nil {
      members[key] = value
      return nil
    }
    var evicted: (key: String, value: Value)? = nil
    if ring.count < capacity {
      ring.append(key)
    } else {
      let old = ring[next]
      evicted = members.removeValue(forKey: old).map { (old, $0) }
      ring[next] = key
      next = (next + 1) % capacity
    }
    members[key] = value
    return Insertion(key: key, evicted: evicted)
  }

  /// Takes back the insert that returned `insertion` (it must be the latest change).
  mutating func undoInsert(_ insertion: Insertion) {
    members.removeValue(forKey: insertion.key)
    guard let evicted = insertion.evicted else {
      ring.removeLast()
      return
    }
    next = (next + capacity - 1) % capacity
    ring[next] = evicted.key
    members[evicted.key] = evicted.value
  }
}

/// What `Pool.undoableSelect` changed, for `Pool.undo(_:)`.
public struct SelectUndo: @unchecked Sendable {
  var draw: DrawUndo? = nil
  var remembered: RecentMap<SelectMemo>.Insertion? = nil
  /// dps: the candidates this Select sees for the first time, when it was asked to leave marking
  /// them to the caller (`Pool.markSeen(_:)`, after the Select is logged).
  public internal(set) var seen: [UInt64] = []
}

/// What a keyed request's id means when it arrives again.
public enum Replay: Sendable, Equatable {
  /// Never seen (or forgotten): do the work.
  case fresh
  /// Seen with the same content: answer as before, change nothing.
  case duplicate
}

extension MoPPSError {
  static func reusedRequestID(_ id: String, _ what: String) -> MoPPSError {
    MoPPSError(
      .failedPrecondition,
      "request_id \"\(id)\" was already used for a different \(what) on this pool; a retry must repeat the "
        + "request exactly, and every distinct request needs its own id (include the run, the rank and the step)"
    )
  }
}
