extension Pool {
  /// Thompson-samples a success rate for each candidate and picks `batchSize` of them by the
  /// strategy. Input is checked before anything changes; a failed select does not advance the
  /// pool's counters or its epoch.
  public func select(_ query: SelectQuery) throws(EngineError) -> SelectResult {
    let b = query.batchSize
    guard b > 0 else { throw .invalid("batch_size must be > 0") }
    if case .given(let ids) = query.candidates {
      guard b <= ids.count else {
        throw .invalid("batch_size (\(b)) exceeds the number of candidates (\(ids.count))")
      }
      try Validate.distinct(ids, "candidates")
    }
    let strategy = query.strategy ?? config.strategy

    // Resolve candidates and copy their shapes under the lock; sample outside it.
    let (candidateIDs, alpha, beta, selectIndex) = try state.withLock {
      (s) throws(EngineError) -> ([UInt64], [Double], [Double], UInt64) in
      var ids: [UInt64]
      var a: [Double]
      var bt: [Double]
      switch query.candidates {
      case .given(let given):
        ids = given
        a = [Double](repeating: 0, count: given.count)
        bt = a
        for (i, id) in given.enumerated() {
          if let slot = s.slotOf[id] {
            a[i] = Double(s.alpha[Int(slot)])
            bt[i] = Double(s.beta[Int(slot)])
          } else {
            a[i] = config.priorAlpha
            bt[i] = config.priorBeta
          }
        }
      case .drawn(let count):
        guard count > 0 else { throw .invalid("candidate_count must be > 0") }
        guard count <= s.ids.count else {
          throw .invalid(
            "candidate_count (\(count)) exceeds the prompts registered in pool \"\(name)\" (\(s.ids.count))")
        }
        guard b <= count else {
          throw .invalid("batch_size (\(b)) exceeds candidate_count (\(count))")
        }
        let slots = s.draw(count)
        ids = slots.map { s.ids[Int($0)] }
        a = slots.map { Double(s.alpha[Int($0)]) }
        bt = slots.map { Double(s.beta[Int($0)]) }
      case .all:
        guard b <= s.ids.count else {
          throw .invalid(
            "batch_size (\(b)) exceeds the prompts registered in pool \"\(name)\" (\(s.ids.count)); "
              + "register prompts or send candidates")
        }
        ids = s.ids
        a = s.alpha.map(Double.init)
        bt = s.beta.map(Double.init)
      }
      let index = s.selectCount
      s.selectCount += 1
      return (ids, a, bt, index)
    }

    var rng = Xoshiro256(seed: config.seed, stream: RandomStream.select.rawValue, counter: selectIndex)
    var samples = [Float](repeating: 0, count: candidateIDs.count)
    for i in samples.indices {
      samples[i] = BetaSampler.sample(alpha: alpha[i], beta: beta[i], using: &rng)
    }
    let chosen = Self.choose(b, samples: samples, strategy: strategy, config: config, rng: &rng)

    var result = SelectResult(
      ids: chosen.map { candidateIDs[$0] }, samples: chosen.map { samples[$0] }, means: nil,
      candidateIDs: nil, candidateSamples: nil, candidateCount: candidateIDs.count, strategy: strategy,
      selectIndex: selectIndex)
    if query.returnMeans {
      result.means = chosen.map { alpha[$0] / (alpha[$0] + beta[$0]) }
    }
    if query.returnAllSamples {
      result.candidateIDs = candidateIDs
      result.candidateSamples = samples
    }
    return result
  }

  /// Positions (into `samples`) of the chosen batch.
  static func choose(
    _ b: Int, samples: [Float], strategy: Strategy, config: PoolConfig, rng: inout Xoshiro256
  ) -> [Int] {
    switch strategy {
    case .topK:
      let target = Float(config.target)
      let keys = samples.map { ($0 - target) * ($0 - target) }
      return PartialSelection.smallest(b, of: keys)
    case .uniform:
      return PartialSelection.uniform(b, of: samples.count, using: &rng)
    case .threshold:
      let low = Float(config.bandLow)
      let high = Float(config.bandHigh)
      let inBand = samples.indices.filter { samples[$0] >= low && samples[$0] <= high }
      if inBand.count >= b {
        return PartialSelection.uniform(b, of: inBand.count, using: &rng).map { inBand[$0] }
      }
      // Too few inside: take them all, then those nearest the band.
      let outside = samples.indices.filter { samples[$0] < low || samples[$0] > high }
      let gaps = outside.map { max(low - samples[$0], samples[$0] - high) }
      let fill = PartialSelection.smallest(b - inBand.count, of: gaps).map { outside[$0] }
      return inBand + fill
    }
  }
}
