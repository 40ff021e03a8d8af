extension Pool {
  /// Candidates are sampled in chunks of this many, each with its own random stream keyed by
  /// (seed, select index, chunk), so chunks can run on any thread in any order and the result is
  /// the same. Equal to the store's segment size, so whole-pool chunks are segments.
  static let chunkSize = PromptTable.segmentSize

  /// Thompson-samples a success rate for each candidate and picks `batchSize` of them by the
  /// strategy. Input is checked before anything changes; a refused select does not advance the
  /// pool's counters or its epoch.
  public func select(_ query: SelectQuery) throws(MoPPSError) -> SelectResult {
    try checkStrategy(query)
    if config.strategy.hasOwnState {
      return try strategySelect(query, requestID: "", deferSeen: false).result
    }
    if case .drawn = query.candidates { return try undoableSelect(query, requestID: "").result }
    return try select(query) { (_, _) throws(MoPPSError) in ([], nextSelectIndex()) }
  }

  /// A Select under an idempotency key: the first one with `requestID` draws and its reply is
  /// remembered; a later one with the same arguments gets that reply back (`.duplicate`) without
  /// drawing or advancing the counters; other arguments under the same key are refused. Keyed
  /// selects of a pool run one at a time (under the writer lock), so ranks that send the same key at
  /// once get one draw.
  public func select(_ query: SelectQuery, requestID: String) throws(MoPPSError) -> (
    result: SelectResult, replay: Replay
  ) {
    guard !requestID.isEmpty else { return (try select(query), .fresh) }
    let (result, replay, _, _) = try undoableSelect(query, requestID: requestID)
    return (result, replay)
  }

  /// A Select whose changes to the writer state (the epoch order, the remembered replies) can be
  /// taken back with `undo(_:)`: the server logs keyed and drawn selects, and undoes one whose record
  /// could not be written. The select counter is not taken back: it only keys random streams, and
  /// the background logging of counters records the higher value, so live and recovered agree.
  /// `memo` is the remembered reply of a keyed select (what the server logs), nil without a key.
  ///
  /// On a dps pool, with `deferSeen`, the candidates seen for the first time are left unmarked and
  /// listed in the undo's `seen`, for the caller to mark (`markSeen(_:)`) once the Select is logged.
  public func undoableSelect(_ query: SelectQuery, requestID: String, deferSeen: Bool = false)
    throws(MoPPSError) -> (result: SelectResult, replay: Replay, memo: SelectMemo?, undo: SelectUndo)
  {
    try checkStrategy(query)
    if config.strategy.hasOwnState {
      return try strategySelect(query, requestID: requestID, deferSeen: deferSeen)
    }
    let fingerprint = requestID.isEmpty ? 0 : Fingerprint.of(query)
    return try writer.withLock { (w) throws(MoPPSError) in
      if !requestID.isEmpty, let memo = w.recentSelects[requestID] {
        guard memo.fingerprint == fingerprint else { throw .reusedRequestID(requestID, "Select") }
        return (memo.result, .duplicate, memo, SelectUndo())
      }
      var undo = SelectUndo()
      var drawUndo = DrawUndo(w)
      let result = try select(query) { (count, b) throws(MoPPSError) in
        try drawSlots(count, b, &w, undo: &drawUndo)
      }
      if case .drawn = query.candidates { undo.draw = drawUndo }
      var memo: SelectMemo? = nil
      if !requestID.isEmpty {
        memo = SelectMemo(requestID: requestID, fingerprint: fingerprint, result: result)
        undo.remembered = w.recentSelects.insert(requestID, memo!)
      }
      return (result, .fresh, memo, undo)
    }
  }

  /// Takes back what `undoableSelect` changed in the writer state. `undo` must come from this pool's
  /// latest `undoableSelect`, with no writer change since (the server undoes under the pool's
  /// mutation lock, right after a failed log write); anything else is a programmer error.
  public func undo(_ undo: SelectUndo) {
    writer.withLock { w in
      if let remembered = undo.remembered { w.recentSelects.undoInsert(remembered) }
      undo.draw?.revert(&w)
    }
  }

  /// Recovery of what a logged Select changed: the select counter (at least `count`), the epoch
  /// order when it drew `drawn` candidates, and the remembered reply of a keyed one. Replayed in log
  /// order, this reproduces the counters, epochs and windows exactly.
  public func replaySelect(count: UInt64, drawn: Int?, memo: SelectMemo?) throws(MoPPSError) {
    try writer.withLock { (w) throws(MoPPSError) in
      if let drawn {
        guard drawn > 0, drawn <= table.count else {
          throw .invalid("logged draw of \(drawn) candidates from \(table.count) prompts")
        }
        var undo = DrawUndo(w)
        _ = w.draw(drawn, total: table.count, undo: &undo)
      }
      if let memo { w.recentSelects.insert(memo.requestID, memo) }
    }
    // Relaxed: a counter; recovery runs before any request is served.
    var current = selects.load(ordering: .relaxed)
    while current < count {
      let (exchanged, seen) = selects.weakCompareExchange(
        expected: current, desired: count, ordering: .relaxed)
      if exchanged { break }
      current = seen
    }
  }

  private func drawSlots(_ count: Int, _ b: Int, _ w: inout WriterState, undo: inout DrawUndo)
    throws(MoPPSError) -> ([Int32], UInt64)
  {
    let total = table.count
    guard count <= total else {
      throw .invalid(
        "candidate_count (\(count)) exceeds the prompts registered in pool \"\(name)\" (\(total))")
    }
    guard b <= count else { throw .invalid("batch_size (\(b)) exceeds candidate_count (\(count))") }
    return (w.draw(count, total: total, undo: &undo), nextSelectIndex())
  }

  private func select(
    _ query: SelectQuery, draw: (Int, Int) throws(MoPPSError) -> ([Int32], UInt64)
  ) throws(MoPPSError) -> SelectResult {
    let result = try chooseBatch(query, draw: draw)
    activity.recordSelect(result.samples)
    return result
  }

  private func chooseBatch(
    _ query: SelectQuery, draw: (Int, Int) throws(MoPPSError) -> ([Int32], UInt64)
  ) throws(MoPPSError) -> SelectResult {
    let b = query.batchSize
    guard b > 0 else { throw .invalid("batch_size must be > 0") }
    let strategy = query.strategy ?? config.strategy
    switch query.candidates {
    case .given(let ids):
      guard b <= ids.count else {
        throw .invalid("batch_size (\(b)) exceeds the number of candidates (\(ids.count))")
      }
      // `gatherDistinct` writes every position (the prior for unknown ids) and checks for
      // repeats on the way; a repeat is named by the exact search.
      var distinct = true
      let words = [UInt64](unsafeUninitializedCapacity: ids.count) { w, initialized in
        distinct = table.gatherDistinct(
          ids, prior: (Float(config.priorAlpha), Float(config.priorBeta)), words: w.baseAddress!)
        initialized = ids.count
      }
      if !distinct { try Validate.distinct(ids, "candidates") }
      return choose(b, ids: ids, words: words, strategy: strategy, index: nextSelectIndex(), query)
    case .drawn(let count):
      guard count > 0 else { throw .invalid("candidate_count must be > 0") }
      let (slots, index) = try draw(count, b)
      let (ids, words) = gather(slots.lazy.map { Int($0) })
      return choose(b, ids: ids, words: words, strategy: strategy, index: index, query)
    case .all:
      let n = table.count
      guard b <= n else {
        throw .invalid(
          "batch_size (\(b)) exceeds the prompts registered in pool \"\(name)\" (\(n)); "
            + "register prompts or send candidates")
      }
      let index = nextSelectIndex()
      if query.returnAllSamples {
        let (ids, words) = gather(0..<n)
        return choose(b, ids: ids, words: words, strategy: strategy, index: index, query)
      }
      return selectWholePool(b, n: n, strategy: strategy, index: index, query)
    }
  }

  /// Ids and packed posterior words of published slots.
  private func gather<S: Collection<Int>>(_ slots: S) -> ([UInt64], [UInt64]) {
    var ids: [UInt64] = []
    var words: [UInt64] = []
    ids.reserveCapacity(slots.count)
    words.reserveCapacity(slots.count)
    for slot in slots {
      let p = table.posterior(slot)
      ids.append(table.id(slot))
      words.append(PromptTable.pack(p.alpha, p.beta))
    }
    return (ids, words)
  }

  /// Samples of every position (packed posterior words), chunk by chunk (in parallel when there
  /// are several chunks).
  func sample(_ words: [UInt64], index: UInt64) -> [Float] {
    let n = words.count
    let chunks = (n + Self.chunkSize - 1) / Self.chunkSize
    return [Float](unsafeUninitializedCapacity: n) { out, initialized in
      words.withUnsafeBufferPointer { w in
        let (out, w) = (UnsafeSendable(out), UnsafeSendable(w))
        // Each chunk writes only its own range of `out`.
        _ = parallelMap(chunks) { c in
          let range = (c * Self.chunkSize)..<min(n, (c + 1) * Self.chunkSize)
          var rng = VectorRNG(
            seed: config.seed, stream: RandomStream.select.rawValue, counter: index, chunk: UInt64(c))
          kernel.sample(
            UnsafeMutableBufferPointer(rebasing: out.value[range]),
            words: UnsafeBufferPointer(rebasing: w.value[range]),
            using: &rng)
        }
      }
      initialized = n
    }
  }

  /// The whole select over materialised candidates.
  private func choose(
    _ b: Int, ids: [UInt64], words: [UInt64], strategy: Strategy, index: UInt64, _ query: SelectQuery
  ) -> SelectResult {
    let samples = sample(words, index: index)
    var rng = Xoshiro256(seed: config.seed, stream: RandomStream.choose.rawValue, counter: index)
    let chosen = Self.choose(
      b, samples: samples, strategy: strategy, config: config, kernel: kernel, rng: &rng)
    var result = SelectResult(
      ids: chosen.map { ids[$0] }, samples: chosen.map { samples[$0] }, means: nil,
      candidateIDs: nil, candidateSamples: nil, candidateCount: ids.count, strategy: strategy,
      selectIndex: index)
    if query.returnMeans {
      result.means = chosen.map {
        let p = PromptTable.unpack(words[$0])
        return Double(p.alpha) / (Double(p.alpha) + Double(p.beta))
      }
    }
    if query.returnAllSamples {
      result.candidateIDs = ids
      result.candidateSamples = samples
    }
    return result
  }

  /// Positions (into `samples`) of the chosen batch.
  static func choose(
    _ b: Int, samples: [Float], strategy: Strategy, config: PoolConfig, kernel: Kernel, rng: inout Xoshiro256
  ) -> [Int] {
    switch strategy {
    case .topK, .dps, .greso, .pools:
      // dps, greso and pools never get here (`checkStrategy`, `strategySelect`).
      return kernel.nearest(b, to: Float(config.target), samples: samples)
    case .uniform:
      return rng.distinct(b, below: samples.count)
    case .threshold:
      let band = Band(config)
      let inBand = samples.indices.filter { band.contains(samples[$0]) }
      if inBand.count >= b {
        return rng.distinct(b, below: inBand.count).map { inBand[$0] }
      }
      // Too few inside: take them all, then those nearest the band.
      let outside = samples.indices.filter { !band.contains(samples[$0]) }
      let fill = kernel.smallest(b - inBand.count, of: outside.map { band.gap(samples[$0]) })
      return inBand + fill.map { outside[$0] }
    }
  }
}

/// The threshold strategy's band [low, high].
struct Band {
  let low: Float
  let high: Float

  init(_ config: PoolConfig) {
    low = Float(config.bandLow)
    high = Float(config.bandHigh)
  }

  @inline(__always) func contains(_ s: Float) -> Bool { s >= low && s <= high }
  @inline(__always) func gap(_ s: Float) -> Float { max(low - s, s - high) }
}
