/// Whole-pool select: every registered prompt is a candidate. Streams over the store's segments on
/// all cores without materialising millions of candidates: each segment keeps only what can still
/// win (its own B best for topk; its in-band prompts and B nearest the band for threshold), and the
/// survivors are merged. Results equal the materialised path's for the same select index, since the
/// chunks are the same and ties break by slot either way.
extension Pool {
  /// What one segment contributes: slots (global), their keys and samples.
  struct Survivors {
    var slots: [Int] = []
    var keys: [Float] = []
    var samples: [Float] = []
    /// threshold only: slots and samples inside the band.
    var inBand: [Int] = []
    var inBandSamples: [Float] = []

    mutating func append(_ slot: Int, key: Float, sample: Float) {
      slots.append(slot)
      keys.append(key)
      samples.append(sample)
    }
  }

  func selectWholePool(
    _ b: Int, n: Int, strategy: Strategy, index: UInt64, _ query: SelectQuery
  ) -> SelectResult {
    var chosenSlots: [Int]
    var chosenSamples: [Float]
    switch strategy {
    case .uniform:
      // Choose first, then sample only the chosen prompts.
      var rng = Xoshiro256(seed: config.seed, stream: RandomStream.choose.rawValue, counter: index)
      chosenSlots = PartialSelection.uniform(b, of: n, using: &rng)
      let shapes = chosenSlots.map { table.posterior($0) }
      chosenSamples = sample(shapes.map(\.alpha), shapes.map(\.beta), index: index)
    case .topK, .threshold:
      let parts = segmentSurvivors(b, n: n, strategy: strategy, index: index)
      var merged = Survivors()
      for p in parts {
        merged.slots += p.slots
        merged.keys += p.keys
        merged.samples += p.samples
        merged.inBand += p.inBand
        merged.inBandSamples += p.inBandSamples
      }
      if strategy == .topK {
        let best = PartialSelection.smallest(b, of: merged.keys)
        chosenSlots = best.map { merged.slots[$0] }
        chosenSamples = best.map { merged.samples[$0] }
      } else if merged.inBand.count >= b {
        var rng = Xoshiro256(seed: config.seed, stream: RandomStream.choose.rawValue, counter: index)
        let picks = PartialSelection.uniform(b, of: merged.inBand.count, using: &rng)
        chosenSlots = picks.map { merged.inBand[$0] }
        chosenSamples = picks.map { merged.inBandSamples[$0] }
      } else {
        let fill = PartialSelection.smallest(b - merged.inBand.count, of: merged.keys)
        chosenSlots = merged.inBand + fill.map { merged.slots[$0] }
        chosenSamples = merged.inBandSamples + fill.map { merged.samples[$0] }
      }
    }
    var result = SelectResult(
      ids: chosenSlots.map { table.id($0) }, samples: chosenSamples, means: nil, candidateIDs: nil,
      candidateSamples: nil, candidateCount: n, strategy: strategy, selectIndex: index)
    if query.returnMeans {
      result.means = chosenSlots.map {
        let p = table.posterior($0)
        return Double(p.alpha) / (Double(p.alpha) + Double(p.beta))
      }
    }
    return result
  }

  private func segmentSurvivors(_ b: Int, n: Int, strategy: Strategy, index: UInt64) -> [Survivors] {
    let chunks = (n + Self.chunkSize - 1) / Self.chunkSize
    let target = Float(config.target)
    let band = Band(config)
    return parallelMap(chunks) { c in
      let first = c * Self.chunkSize
      let count = min(Self.chunkSize, n - first)
      let words = table.words(from: first, count: count)
      var rng = VectorRNG(
        seed: config.seed, stream: RandomStream.select.rawValue, counter: index, chunk: UInt64(c))
      let samples = [Float](unsafeUninitializedCapacity: count) { out, initialized in
        BetaSampler.fill(out, words: words, using: &rng)
        initialized = count
      }
      var out = Survivors()
      // Positions are slots, so (key, slot) ties break exactly as in the materialised path.
      var best = PartialSelection.Streaming(k: min(b, count))
      samples.withUnsafeBufferPointer { s in
        if strategy == .topK {
          // 16 keys at a time against the bar's key; once the buffer has filled, nearly every vector
          // is refused whole, and only the lanes that pass go through `offer`'s exact comparison.
          let t = FloatLanes(target)
          var i = 0
          while i + 16 <= count {
            let x = FloatLanes(UnsafeRawPointer(s.baseAddress! + i).loadUnaligned(as: SIMD16<Float>.self))
            let keys = (x - t) * (x - t)
            var pass = ~(keys > FloatLanes(best.keyBar)).bits
            if pass != 0 {
              let lanes = keys.simd
              while pass != 0 {
                let l = pass.trailingZeroBitCount
                best.offer(key: lanes[l], position: first + i + l)
                pass &= pass &- 1
              }
            }
            i += 16
          }
          for j in i..<count { best.offer(key: (s[j] - target) * (s[j] - target), position: first + j) }
        } else {
          for i in 0..<count {
            if band.contains(s[i]) {
              out.inBand.append(first + i)
              out.inBandSamples.append(s[i])
            } else {
              best.offer(key: band.gap(s[i]), position: first + i)
            }
          }
        }
      }
      for (key, slot) in best.result() {
        out.append(slot, key: key, sample: samples[slot - first])
      }
      return out
    }
  }
}
