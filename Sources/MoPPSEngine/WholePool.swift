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
      chosenSlots = rng.distinct(b, below: n)
      chosenSamples = sample(
        chosenSlots.map {
          let p = table.posterior($0)
          return PromptTable.pack(p.alpha, p.beta)
        }, index: index)
    case .topK, .threshold, .dps, .greso, .pools:
      // dps, greso and pools never get here (their own select, StrategyPool.swift).
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
        let best = kernel.smallest(b, of: merged.keys)
        chosenSlots = best.map { merged.slots[$0] }
        chosenSamples = best.map { merged.samples[$0] }
      } else if merged.inBand.count >= b {
        var rng = Xoshiro256(seed: config.seed, stream: RandomStream.choose.rawValue, counter: index)
        let picks = rng.distinct(b, below: merged.inBand.count)
        chosenSlots = picks.map { merged.inBand[$0] }
        chosenSamples = picks.map { merged.inBandSamples[$0] }
      } else {
        let fill = kernel.smallest(b - merged.inBand.count, of: merged.keys)
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
        kernel.sample(out, words: words, using: &rng)
        initialized = count
      }
      var out = Survivors()
      // Positions are slots, so (key, slot) ties break exactly as in the materialised path.
      samples.withUnsafeBufferPointer { s in
        if strategy == .topK {
          for (key, slot) in kernel.entry.segmentNearest(b, target, s, first) {
            out.append(slot, key: key, sample: s[slot - first])
          }
        } else {
          let (inside, nearest) = kernel.entry.segmentBand(b, band.low, band.high, s, first)
          out.inBand = inside
          out.inBandSamples = inside.map { s[$0 - first] }
          for (key, slot) in nearest { out.append(slot, key: key, sample: s[slot - first]) }
        }
      }
      return out
    }
  }
}
